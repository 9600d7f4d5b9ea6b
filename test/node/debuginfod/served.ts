// A server over a finished scan, for the tests that compare what it serves.
import { BuildIdIndex } from "../../../src/node/debuginfod/build-id-index.js";
import { type DebuginfodServer, serveDebuginfod } from "../../../src/node/debuginfod/server.js";

/** Runs `check` against a server over a finished scan of `root`; closes both after. */
export async function served(root: string, check: (server: DebuginfodServer) => Promise<void>): Promise<void> {
  const index = await BuildIdIndex.create({ roots: [root] });
  await index.scan();
  const server = await serveDebuginfod(index, { port: 0 });
  try {
    await check(server);
  } finally {
    await server.close();
    index.dispose();
  }
}
