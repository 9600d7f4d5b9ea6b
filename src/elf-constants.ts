// Numbers of the ELF specification (System V gABI, <elf.h>) that more than one reader here uses.

/** `e_type`: relocatable object. */
export const ET_REL = 1;
/** `e_type`: executable. */
export const ET_EXEC = 2;
/** `e_type`: shared object or position-independent executable. */
export const ET_DYN = 3;
/** `e_type`: core dump. */
export const ET_CORE = 4;

/** `e_phnum` escape: the real program-header count is in section 0's `sh_info`. */
export const PN_XNUM = 0xffff;
/** `e_shstrndx` escape: the real index is in section 0's `sh_link`. */
export const SHN_XINDEX = 0xffff;

/** `p_type`: a loadable segment. */
export const PT_LOAD = 1;
/** `p_type`: a segment of notes. */
export const PT_NOTE = 4;
/** `p_flags`: executable. */
export const PF_X = 0x1;

/** `sh_type`: bytes the program defines (code, data, DWARF). */
export const SHT_PROGBITS = 1;
/** `sh_type`: notes. */
export const SHT_NOTE = 7;
/** `sh_type`: takes no bytes in the file (`.bss`, or every allocated section of a split debug file). */
export const SHT_NOBITS = 8;
/** `sh_flags`: occupies memory at run time. */
export const SHF_ALLOC = 0x2;
/** `sh_flags`: holds code. */
export const SHF_EXECINSTR = 0x4;
/** `sh_flags`: the bytes are an `Elf32_Chdr`/`Elf64_Chdr` followed by compressed data. */
export const SHF_COMPRESSED = 0x800;
/** `ch_type`: zlib (RFC 1950) data. */
export const ELFCOMPRESS_ZLIB = 1;
/** `ch_type`: a zstd frame. */
export const ELFCOMPRESS_ZSTD = 2;

/** A note's header: `n_namesz`, `n_descsz`, `n_type`, three u32 in both classes. */
export const NOTE_HEADER = 12;
