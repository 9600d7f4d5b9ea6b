// Shared by the browser tests: Debian's Chromium under playwright-core, and a static file server.
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, normalize, resolve, sep } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** The Debian package's Chromium; test tools cannot download browsers on these machines. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Flags for a quiet, headless Chromium that reaches nothing but the test server. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Where `npm run build:web` writes the demo page. */
export const WEB_DIST = resolve(import.meta.dirname, "../../web/dist");

/** Where browser tests save screenshots (git-ignored). */
export const SCREENSHOT_DIR = resolve(import.meta.dirname, "../../test-results/browser");

/** A running Chromium with a fresh profile; {@link Chromium.close} also deletes the profile. */
export interface Chromium {
  /** The browser context: open pages with `context.newPage()`. */
  readonly context: BrowserContext;
  /** Closes the browser and removes its temporary user-data directory. */
  close(): Promise<void>;
}

/**
 * Launches headless Debian Chromium with {@link CHROMIUM_ARGS} (and `extraArgs`) and a new temporary `--user-data-dir`.
 * @throws Error naming the missing path and the apt package when Chromium is not installed.
 */
export async function launchChromium(extraArgs: string[] = []): Promise<Chromium> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no browser at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install chromium)`);
  }
  const profile = await mkdtemp(join(tmpdir(), "buildid-cache-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: [...CHROMIUM_ARGS, ...extraArgs],
      viewport: { width: 1200, height: 900 },
      acceptDownloads: true,
    });
    return {
      context,
      async close() {
        await context.close();
        await rm(profile, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(profile, { recursive: true, force: true });
    throw error;
  }
}

const MIME_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".map": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

/** A static file server on 127.0.0.1, from {@link serveStatic}. */
export interface StaticServer {
  /** Base URL with a trailing slash, e.g. `http://127.0.0.1:41234/`. */
  readonly url: string;
  /** Paths requested so far, in order (e.g. `/assets/core-abc123.wasm`). */
  readonly requests: string[];
  /** Stops the server and drops open connections. */
  close(): Promise<void>;
}

/** Options of {@link serveStatic}. */
export interface ServeOptions {
  /** Send COOP `same-origin` and COEP `require-corp`, which make a page cross-origin isolated. Default true. */
  isolated?: boolean;
}

/**
 * Serves the files under `root` on 127.0.0.1 at a free port, with the MIME type browsers need
 * for each (`application/wasm` for streaming compilation). `/` and directories serve `index.html`.
 * `mimeTypes` overrides types by extension, e.g. `{ ".wasm": "application/octet-stream" }` to play a misconfigured server.
 */
export async function serveStatic(
  root: string,
  mimeTypes: Record<string, string> = {},
  { isolated = true }: ServeOptions = {},
): Promise<StaticServer> {
  const base = resolve(root);
  const types = { ...MIME_TYPES, ...mimeTypes };
  const requests: string[] = [];
  const server = createServer(async (request, response) => {
    const path = decodeURIComponent(new URL(request.url ?? "/", "http://host").pathname);
    requests.push(path);
    let file = normalize(join(base, path));
    if (file !== base && !file.startsWith(base + sep)) {
      response.writeHead(403).end();
      return;
    }
    try {
      if ((await stat(file)).isDirectory()) file = join(file, "index.html");
      const body = await readFile(file);
      response.writeHead(200, {
        "content-type": types[extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
        // Cross-origin isolation, as web/vite.config.ts serves the page: SharedArrayBuffer for the shared demo.
        ...(isolated && {
          "cross-origin-opener-policy": "same-origin",
          "cross-origin-embedder-policy": "require-corp",
        }),
      });
      response.end(body);
    } catch {
      response.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${path}`);
    }
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    requests,
    close() {
      server.closeAllConnections();
      return new Promise((done, fail) => server.close((error) => (error ? fail(error) : done())));
    },
  };
}

/** Returns the path for a screenshot named `name` under {@link SCREENSHOT_DIR}, creating the folder. */
export async function screenshotPath(name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  return join(SCREENSHOT_DIR, `${name}.png`);
}

/** The built demo page served from {@link WEB_DIST} and open in Chromium, from {@link openDemoPage}. */
export interface DemoPage {
  /** The server of {@link WEB_DIST}. */
  readonly server: StaticServer;
  /** The browser; more pages come from `browser.context.newPage()`. */
  readonly browser: Chromium;
  /** The page, loaded and ready (`body[data-ready]`). */
  readonly page: Page;
  /** The page's uncaught errors and console errors, in order. */
  readonly errors: string[];
  /** Closes the browser, then the server. */
  close(): Promise<void>;
}

/**
 * Serves {@link WEB_DIST}, launches Chromium and opens the page, recording its errors, once it is ready.
 * @throws Error naming `npm run build:web` when the page is not built.
 */
export async function openDemoPage(): Promise<DemoPage> {
  if (!existsSync(join(WEB_DIST, "index.html"))) {
    throw new Error(`${WEB_DIST}/index.html is missing: run npm run build:web (npm run test:browser does)`);
  }
  const server = await serveStatic(WEB_DIST);
  let browser: Chromium | undefined;
  try {
    browser = await launchChromium();
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    page.on("console", (message) => {
      if (message.type() === "error") errors.push(message.text());
    });
    await page.goto(server.url);
    await page.locator("body[data-ready]").waitFor();
    const opened = browser;
    return {
      server,
      browser,
      page,
      errors,
      async close() {
        await opened.close();
        await server.close();
      },
    };
  } catch (error) {
    await browser?.close();
    await server.close();
    throw error;
  }
}

/**
 * Runs `use` on the demo page served from {@link WEB_DIST} without COOP/COEP (so not cross-origin
 * isolated), in a new tab of `browser`, once it is ready; closes the tab and that server after.
 */
export async function withUnisolatedPage(browser: Chromium, use: (page: Page) => Promise<void>): Promise<void> {
  const plain = await serveStatic(WEB_DIST, {}, { isolated: false });
  const page = await browser.context.newPage();
  try {
    await page.goto(plain.url);
    await page.locator("body[data-ready]").waitFor();
    await use(page);
  } finally {
    await page.close();
    await plain.close();
  }
}

/** A one-script page bundled by Vite in a scratch folder, served and open to Chromium, from {@link openScratchPage}. */
export interface ScratchPage {
  /** The server of the bundle; its `requests` say what the page fetched. */
  readonly server: StaticServer;
  /** The browser. */
  readonly browser: Chromium;
  /** The bundle's folder. */
  readonly dist: string;
  /** Loads the page in a new tab and returns what its script left in `body[data-result]`, parsed. */
  result(timeoutMs?: number): Promise<unknown>;
  /** Closes the browser and the server and removes the scratch folder. */
  close(): Promise<void>;
}

/**
 * Bundles `main` (TypeScript source; it imports by absolute path and sets `document.body.dataset.result`)
 * with Vite, `build` merged into the build options, serves it and launches Chromium.
 */
export async function openScratchPage(
  name: string,
  main: string,
  build: Record<string, unknown> = {},
): Promise<ScratchPage> {
  const scratch = await mkdtemp(join(tmpdir(), `buildid-cache-${name}-`));
  let server: StaticServer | undefined;
  try {
    await writeFile(join(scratch, "index.html"), '<!doctype html><script type="module" src="./main.ts"></script>\n');
    await writeFile(join(scratch, "main.ts"), main);
    const dist = join(scratch, "dist");
    const vite = await import("vite");
    await vite.build({
      configFile: false,
      root: scratch,
      logLevel: "silent",
      base: "./",
      build: { outDir: dist, ...build },
    });
    server = await serveStatic(dist);
    const browser = await launchChromium();
    const served = server;
    return {
      server,
      browser,
      dist,
      async result(timeoutMs = 30_000) {
        const page = await browser.context.newPage();
        await page.goto(served.url);
        const text = await page.locator("body[data-result]").getAttribute("data-result", { timeout: timeoutMs });
        return JSON.parse(text ?? "null");
      },
      async close() {
        await browser.close();
        await served.close();
        await rm(scratch, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await server?.close();
    await rm(scratch, { recursive: true, force: true });
    throw error;
  }
}
