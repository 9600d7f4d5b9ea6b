// Processes that map what a real machine maps now and then; scripts/odd-processes.sh builds and runs them.
//   odd-processes hold                 a process that does nothing: run from a binary with a 32-byte build ID
//   odd-processes deleted LIB          LIB mapped executable, then unlinked: maps shows "LIB (deleted)"
//   odd-processes memfd SELF           a copy of SELF (an ELF file) in a memfd, mapped executable
//   odd-processes awkward DIR LIB      copies of LIB under DIR named with spaces, " (deleted)" and a newline, mapped
//   odd-processes churn SELF MS        forever: starts SELF hold, kills it after MS ms (processes that come and go)
// Each prints "ready" once everything is mapped, then waits to be killed.
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what, const char *path) {
  fprintf(stderr, "odd-processes: %s %s: %m\n", what, path);
  exit(1);
}

static void map_exec(int fd, const char *path) {
  struct stat st;
  if (fstat(fd, &st) != 0 || mmap(NULL, st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED)
    fail("cannot map", path);
}

static void copy(const char *from, int to) {
  int in = open(from, O_RDONLY);
  struct stat st;
  if (in < 0 || fstat(in, &st) != 0) fail("cannot open", from);
  for (off_t done = 0; done < st.st_size;) {
    ssize_t n = sendfile(to, in, &done, st.st_size - done);
    if (n <= 0) fail("cannot copy", from);
  }
  close(in);
}

static void map_copy(const char *lib, const char *path, int unlink_it) {
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0700);
  if (fd < 0) fail("cannot create", path);
  copy(lib, fd);
  map_exec(fd, path);
  close(fd);
  if (unlink_it && unlink(path) != 0) fail("cannot unlink", path);
}

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&t, NULL);
}

static void ready(void) {
  puts("ready");
  fflush(stdout);
  for (;;) pause();
}

int main(int argc, char **argv) {
  // Killed with the process that started it, however that ends; one that ended before the prctl is seen by the pid.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  const char *parent = getenv("ODD_PARENT");
  if (parent && getppid() != (pid_t)strtol(parent, NULL, 10)) return 0;
  const char *mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "hold") == 0 && argc == 2) ready();
  if (strcmp(mode, "deleted") == 0 && argc == 3) {
    int fd = open(argv[2], O_RDONLY);
    if (fd < 0) fail("cannot open", argv[2]);
    map_exec(fd, argv[2]);
    close(fd);
    if (unlink(argv[2]) != 0) fail("cannot unlink", argv[2]);
    ready();
  }
  if (strcmp(mode, "memfd") == 0 && argc == 3) {
    int fd = memfd_create("odd jit", 0);
    if (fd < 0) fail("cannot create", "memfd");
    copy(argv[2], fd);
    map_exec(fd, "/memfd:odd jit");
    ready();
  }
  if (strcmp(mode, "awkward") == 0 && argc == 4) {
    const char *names[] = {"lib with spaces.so", "lib.so (deleted)", "new\nline lib.so", "gone for good.so"};
    char path[4096];
    for (int i = 0; i < 4; i++) {
      snprintf(path, sizeof path, "%s/%s", argv[2], names[i]);
      map_copy(argv[3], path, i == 3);
    }
    ready();
  }
  if (strcmp(mode, "churn") == 0 && argc == 4) {
    long ms = strtol(argv[3], NULL, 10);
    signal(SIGCHLD, SIG_DFL);
    puts("ready");
    fflush(stdout);
    for (;;) {
      pid_t pid = fork();
      if (pid == 0) {
        char self[16];
        snprintf(self, sizeof self, "%d", (int)getppid());
        setenv("ODD_PARENT", self, 1);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(argv[2], argv[2], "hold", (char *)NULL);
        _exit(127);
      }
      sleep_ms(ms);
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
      }
    }
  }
  fprintf(stderr, "usage: odd-processes hold | deleted LIB | memfd SELF | awkward DIR LIB | churn SELF MS\n");
  return 2;
}
