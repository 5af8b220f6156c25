// SPDX-License-Identifier: MIT
// Shared pieces of the mesh tests: bounded waits and a nats-server on loopback.
import { spawn } from "node:child_process";
import fs from "node:fs";

// Poll cond every 10 ms until it is truthy; reject after timeoutMs.
export function waitFor(cond, timeoutMs = 10000, what = "condition") {
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + timeoutMs;
    const tick = () => {
      let v;
      try { v = cond(); } catch (e) { return reject(e); }
      if (v) return resolve(v);
      if (Date.now() > deadline) return reject(new Error("timed out waiting for " + what));
      setTimeout(tick, 10);
    };
    tick();
  });
}

// nats-server on 127.0.0.1: a given port (0 = any), or a configuration file's
// text; resolves with the process, its .port read from the server's log.
export function startNats({ port = 0, conf = null, confPath = null } = {}) {
  let args = ["-a", "127.0.0.1", "-p", String(port || -1)];
  if (conf) {
    fs.writeFileSync(confPath, conf);
    args = ["-c", confPath];
  }
  return new Promise((resolve, reject) => {
    const p = spawn("nats-server", args, { stdio: ["ignore", "ignore", "pipe"] });
    let buf = "";
    p.stderr.on("data", (d) => {
      buf += d;
      const m = buf.match(/Listening for client connections on [^:]+:(\d+)/);
      if (m && !p.port) { p.port = Number(m[1]); resolve(p); }
    });
    p.on("exit", () => { if (!p.port) reject(new Error("nats-server failed: " + buf)); });
  });
}

// A JSON-RPC request retried until the device answers (it may still be
// starting or reconnecting); rejects with the last error after timeoutMs.
export async function rpcUntilAnswered(nc, subject, method, params = {}, { id = 1, timeoutMs = 10000, each = 1000 } = {}) {
  const body = new TextEncoder().encode(JSON.stringify({ jsonrpc: "2.0", id, method, params }));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const m = await nc.request(subject, body, { timeout: each });
      return JSON.parse(new TextDecoder().decode(m.data));
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await new Promise((r) => setImmediate(r));
    }
  }
}
