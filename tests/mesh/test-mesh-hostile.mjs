// SPDX-License-Identifier: MIT
// Hostile mesh peers (issue 10): reply subjects that are not inboxes,
// dc-mesh:// downloads that never end or pile up, and a shutdown while
// requests are still running.  A real nats-server, the real daemon, nats.js.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { connect, StringCodec } from "nats";
import { rpcUntilAnswered, startNats, waitFor } from "./helpers.mjs";

const sc = StringCodec();
const HOSTD = process.env.DC_HOSTD;
const EXAMPLES = process.env.DC_EXAMPLES_DIR;
const base = "/run/dc-plugin-host-tests";
fs.mkdirSync(base, { recursive: true, mode: 0o755 });
const tmp = fs.mkdtempSync(path.join(base, "hostile-"));
fs.chmodSync(tmp, 0o755);
const procs = [];

function startHostd(name, lines, examples = [], { allowUnverified = true } = {}) {
  const dir = path.join(tmp, name);
  const root = path.join(dir, "plugins");
  fs.mkdirSync(root, { recursive: true, mode: 0o755 });
  fs.chmodSync(dir, 0o755);
  for (const ex of examples) {
    fs.mkdirSync(path.join(root, ex), { mode: 0o755 });
    for (const f of [ex + ".so", "manifest.json"]) {
      fs.copyFileSync(path.join(EXAMPLES, ex, f), path.join(root, ex, f));
      fs.chmodSync(path.join(root, ex, f), 0o644);
    }
  }
  fs.mkdirSync(path.join(dir, "state"), { mode: 0o700 });
  fs.writeFileSync(path.join(dir, "hostd.conf"), [`PluginDirectories=${root}`, `StateDirectory=${dir}/state`,
    `SignaturesFile=${dir}/none.json`, `TrustedKeysDirectory=${dir}/none.d`, "Tenant=lab",
    ...(allowUnverified ? ["AllowUnverifiedMeshInstalls=yes"] : []), ...lines, ""].join("\n"));
  const log = path.join(dir, "hostd.log");
  const p = spawn(HOSTD, ["--config", path.join(dir, "hostd.conf"), "--no-bus", "--log-target=console"], {
    stdio: ["ignore", fs.openSync(log, "a"), fs.openSync(log, "a")],
    env: { ...process.env, DEVICE_CONNECT_REGISTER_JITTER: "0" },
  });
  p.logPath = log;
  procs.push(p);
  return p;
}

function stop(p, { timeoutMs = 15000 } = {}) {
  if (p.exitCode !== null || p.signalCode !== null)
    return Promise.resolve(p.exitCode);
  return new Promise((resolve) => {
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("exit", (code) => { clearTimeout(timer); resolve(code); });
    p.kill("SIGTERM");
  });
}

after(async () => {
  for (const p of procs)
    if ((await stop(p)) !== 0 && p.logPath)
      console.error(fs.readFileSync(p.logPath, "utf8").slice(-3000));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const request = (nc, subject, method, params = {}, timeout = 10000) =>
  nc.request(subject, sc.encode(JSON.stringify({ jsonrpc: "2.0", id: method, method, params })), { timeout })
    .then((m) => JSON.parse(sc.decode(m.data)));

test("a reply subject that is not an inbox, or is one of the device's own, gets nothing published", async () => {
  const server = await startNats();
  procs.push(server);
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const CMD = "device-connect.lab.ph-reply.cmd";
  startHostd("reply", [`MeshURLs=nats://127.0.0.1:${server.port}`, "DeviceId=ph-reply"], ["hello-world"]);
  await rpcUntilAnswered(nc, CMD, "get_status");
  const seen = [];
  for (const s of ["device-connect.lab.ph-reply.event.plugin_loaded", "device-connect.lab.registry", "victim.subject",
    "device-connect.lab.ph-reply.heartbeat"])
    nc.subscribe(s, { callback: (e, m) => seen.push({ subject: m.subject, data: sc.decode(m.data) }) });
  await nc.flush();
  for (const reply of ["device-connect.lab.ph-reply.event.plugin_loaded", "device-connect.lab.registry", "victim.subject",
    "device-connect.lab.ph-reply.heartbeat", "_INBOX.*", "_INBOX.>"]) {
    nc.publish(CMD, sc.encode(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "get_status", params: {} })), { reply });
    nc.publish(CMD, sc.encode(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "hello_world", params: {} })), { reply });
  }
  // Requests are answered in order: once a proper request's answer is
  // back, the hostile ones before it have been handled (and ignored).
  assert.equal((await request(nc, CMD, "get_status")).result.status, "success");
  assert.deepEqual((await request(nc, CMD, "hello_world")).result, { message: "Hello, world!" });
  await nc.flush();
  // The daemon's own traffic (heartbeats, registration retries: requests
  // with a method) may appear; a reply (no method) must not.
  const replies = seen.filter((m) => {
    if (m.subject === "device-connect.lab.ph-reply.heartbeat") return false;
    try { return !("method" in JSON.parse(m.data)); } catch { return true; }
  });
  assert.deepEqual(replies, []);
  await nc.close();
});

test("dc-mesh:// downloads: rate limit before any work, a total deadline, a shared byte budget", async () => {
  const server = await startNats();
  procs.push(server);
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const CMD = "device-connect.lab.ph-dl.cmd";
  startHostd("dl", [`MeshURLs=nats://127.0.0.1:${server.port}`, "DeviceId=ph-dl", "MeshOperationsPerMinute=4",
    "MaxArchiveSize=1M", "MeshDownloadBudget=2M", "InstallTimeoutSec=2"]);
  await rpcUntilAnswered(nc, CMD, "get_status");
  // "drip": one byte per chunk, never the end; "hold": never answers
  const asked = { drip: 0, hold: 0, other: 0 };
  const held = [];
  nc.subscribe("device-connect.lab.drip.cmd", {
    callback: (e, m) => {
      asked.drip++;
      const req = JSON.parse(sc.decode(m.data));
      m.respond(sc.encode(JSON.stringify({ jsonrpc: "2.0", id: req.id,
        result: { status: "success", data_b64: "QQ==", offset: req.params.offset, eof: false } })));
    },
  });
  nc.subscribe("device-connect.lab.hold.cmd", { callback: (e, m) => { asked.hold++; held.push(m); } });
  nc.subscribe("device-connect.lab.other.cmd", { callback: () => { asked.other++; } });
  await nc.flush();
  const install = (device) => request(nc, CMD, "install_plugin_from_url",
    { url: `dc-mesh://lab/${device}/artifacts/x/1.0.tgz` }, 20000).then((r) => r.result);

  // a download that never ends is cut at InstallTimeoutSec=
  const t0 = Date.now();
  const r1 = await install("drip");
  assert.deepEqual([r1.status, r1.error], ["error", "download-failed"]);
  assert.match(r1.message, /did not arrive within 2 s/);
  assert.ok(Date.now() - t0 < 6000, `took ${Date.now() - t0} ms`);
  assert.ok(asked.drip > 10);

  // two held downloads reserve the whole budget (2 x MaxArchiveSize)
  const p2 = install("hold"), p3 = install("hold");
  await waitFor(() => asked.hold === 2, 5000, "two downloads waiting");
  const r4 = await install("other");
  assert.deepEqual([r4.status, r4.error], ["error", "limit-exceeded"]);
  assert.equal(asked.other, 0, "a refused download asks nobody");
  // four operations taken (drip, hold, hold, other): the fifth is
  // rate-limited before any request leaves the host
  const r5 = await install("other");
  assert.deepEqual([r5.status, r5.error], ["error", "rate-limited"]);
  assert.equal(asked.other, 0);
  // the held ones end with the deadline, not before
  for (const r of [await p2, await p3])
    assert.deepEqual([r.status, r.error], ["error", "download-failed"]);
  assert.equal((await request(nc, CMD, "get_status")).result.status, "success");
  await nc.close();
});

test("SIGTERM with requests still running: every caller is answered, the daemon exits cleanly and quickly", async () => {
  const server = await startNats();
  procs.push(server);
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const CMD = "device-connect.lab.ph-stop.cmd";
  const h = startHostd("stop", [`MeshURLs=nats://127.0.0.1:${server.port}`, "DeviceId=ph-stop", "Workers=2"], ["sensor"]);
  await rpcUntilAnswered(nc, CMD, "get_status");
  // two running (the workers), six queued behind them
  const calls = [];
  for (let i = 0; i < 8; i++)
    calls.push(request(nc, CMD, "sensor.slow", { ms: 800 }, 10000).catch((e) => ({ transport: e.message })));
  // answered in order: once get_status is back, all eight were dispatched
  assert.equal((await request(nc, CMD, "get_status")).result.status, "success");
  const t0 = Date.now();
  const code = await stop(h);
  const took = Date.now() - t0;
  assert.equal(code, 0, fs.readFileSync(h.logPath, "utf8").slice(-3000));
  assert.ok(took < 5000, `shutdown took ${took} ms`);
  const replies = await Promise.all(calls);
  for (const r of replies) {
    assert.ok(!r.transport, "every caller gets a reply: " + JSON.stringify(r));
    if (r.error)
      assert.match(r.error.message, /shutting down/);
    else
      assert.ok("slept_ms" in r.result);
  }
  assert.ok(replies.some((r) => r.error), "queued calls were answered as shutting down");
  await nc.close();
});

test("permissive trust policy: installs and loads from the mesh are refused unless the admin allows them", async () => {
  const server = await startNats();
  procs.push(server);
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const CMD = "device-connect.lab.ph-perm.cmd";
  const h = startHostd("perm", [`MeshURLs=nats://127.0.0.1:${server.port}`, "DeviceId=ph-perm"], ["hello-world"],
    { allowUnverified: false });
  await rpcUntilAnswered(nc, CMD, "get_status");
  for (const [method, params] of [["load_plugin", { plugin_id: "hello-world" }], ["reload_plugin", { plugin_id: "hello-world" }],
    ["install_plugin_from_bundle", { bundle_b64: "H4sIAAAAAAAAAwMAAAAAAAAAAAA=" }],
    ["install_plugin_from_url", { url: "dc-mesh://lab/other/artifacts/x/1.0.tgz" }]]) {
    const r = (await request(nc, CMD, method, params)).result;
    assert.deepEqual([r.status, r.error], ["error", "unverified-code"], method + ": " + JSON.stringify(r));
  }
  // calls and reads still work, and the log says why once at start
  assert.deepEqual((await request(nc, CMD, "hello_world")).result, { message: "Hello, world!" });
  assert.equal((await request(nc, CMD, "get_status")).result.loaded_count, 1);
  assert.match(fs.readFileSync(h.logPath, "utf8"), /installs and loads from the mesh are refused/);
  // deploy_sidecar of a plugin that is not loaded would load it: refused the same way
  assert.equal((await request(nc, CMD, "unload_plugin", { plugin_id: "hello-world" })).result.status, "success");
  const dep = (await request(nc, CMD, "deploy_sidecar", { plugin_id: "hello-world" })).result;
  assert.deepEqual([dep.status, dep.error], ["error", "unverified-code"], JSON.stringify(dep));
  assert.equal((await request(nc, CMD, "get_status")).result.loaded_count, 0);
  await nc.close();
});

test("publish_plugin_artifact: loaded plugins only, only the files the manifest names, bundles under their own id, a quota", async () => {
  const { execFileSync } = await import("node:child_process");
  const server = await startNats();
  procs.push(server);
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const CMD = "device-connect.lab.ph-pub.cmd";
  const h = startHostd("pub", [`MeshURLs=nats://127.0.0.1:${server.port}`, "DeviceId=ph-pub", "ArtifactStoreMaxSize=40K"],
    ["hello-world", "sensor"]);
  // a file the manifest does not name, next to the plugin
  const root = path.join(tmp, "pub", "plugins");
  fs.writeFileSync(path.join(root, "hello-world", "secret.txt"), "not for publishing\n", { mode: 0o644 });
  await rpcUntilAnswered(nc, CMD, "get_status");
  const ask = async (method, params) => (await request(nc, CMD, method, params)).result;

  // not loaded: refused, nothing packed
  assert.equal((await ask("unload_plugin", { plugin_id: "hello-world" })).status, "success");
  let r = await ask("publish_plugin_artifact", { plugin_id: "hello-world" });
  assert.deepEqual([r.status, r.error], ["error", "not-loaded"], JSON.stringify(r));
  assert.equal((await ask("load_plugin", { plugin_id: "hello-world" })).status, "success");
  r = await ask("publish_plugin_artifact", { plugin_id: "hello-world" });
  assert.equal(r.status, "success", JSON.stringify(r));
  // read it back the way another host does: only manifest.json and the .so
  const chunks = [];
  for (let offset = 0; ;) {
    const c = await ask("read_plugin_artifact", { plugin_id: "hello-world", filename: r.artifact.filename, offset });
    chunks.push(Buffer.from(c.data_b64, "base64"));
    offset += chunks[chunks.length - 1].length;
    if (c.eof) break;
  }
  const listing = execFileSync("tar", ["-tzf", "-"], { input: Buffer.concat(chunks) }).toString().trim().split("\n");
  assert.deepEqual(listing.sort(), ["hello-world/", "hello-world/hello-world.so", "hello-world/manifest.json"]);

  // a bundle under another plugin's id, whose manifest names itself
  const src = fs.mkdtempSync(path.join(tmp, "bundle-"));
  const pack = (id, version, filler = "") => {
    fs.rmSync(path.join(src, id), { recursive: true, force: true });
    fs.mkdirSync(path.join(src, id));
    fs.writeFileSync(path.join(src, id, "manifest.json"), JSON.stringify({ id, version, runtime: "c", api_level: 1, filler }));
    return execFileSync("tar", ["-czf", "-", "-C", src, id]).toString("base64");
  };
  r = await ask("publish_plugin_artifact", { plugin_id: "hello-world", bundle_b64: pack("evil", "1.0.0") });
  assert.deepEqual([r.status, r.error], ["error", "id-mismatch"], JSON.stringify(r));
  // under its own id: stored; other bytes under the same file name: refused
  r = await ask("publish_plugin_artifact", { plugin_id: "other", bundle_b64: pack("other", "1.0.0"), version: "1.0.0" });
  assert.equal(r.status, "success", JSON.stringify(r));
  r = await ask("publish_plugin_artifact", { plugin_id: "other", bundle_b64: pack("other", "1.0.0", "x"), version: "1.0.0" });
  assert.deepEqual([r.status, r.error], ["error", "already-exists"], JSON.stringify(r));
  // the quota: incompressible filler until the store is full
  const crypto = await import("node:crypto");
  let full = null;
  for (let i = 0; i < 20 && !full; i++) {
    r = await ask("publish_plugin_artifact", { plugin_id: "other", version: `2.${i}`,
      bundle_b64: pack("other", `2.${i}`, crypto.randomBytes(6000).toString("hex")) });
    if (r.status !== "success") full = r;
  }
  assert.ok(full, "the store never filled up");
  assert.deepEqual([full.status, full.error], ["error", "limit-exceeded"]);
  assert.match(full.message, /the artifact store is full/);
  assert.equal(h.exitCode, null);
  await nc.close();
});

function rssKiB(pid) {
  const m = fs.readFileSync(`/proc/${pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/);
  return Number(m[1]);
}

// ASan's quarantine keeps freed memory on purpose: RSS says nothing there.
const underAsan = (pid) => fs.readFileSync(`/proc/${pid}/maps`, "utf8").includes("libasan");

test("malformed requests of every size leave no memory behind: RSS after a round within 10% of before", async (t) => {
  const server = await startNats();
  procs.push(server);
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const CMD = "device-connect.lab.ph-mem.cmd";
  const h = startHostd("mem", [`MeshURLs=nats://127.0.0.1:${server.port}`, "DeviceId=ph-mem"], ["hello-world"]);
  await rpcUntilAnswered(nc, CMD, "get_status");
  if (underAsan(h.pid)) {
    t.skip("RSS is not meaningful under ASan");
    await nc.close();
    return;
  }
  const sizes = [10, 100, 1000, 10000, 100000, 400000, 900000];
  const shapes = [(n) => "{".repeat(n), (n) => `{"jsonrpc":"2.0","id":1,"method":"echo","params":{"a":"${"x".repeat(n)}`,
    (n) => `{"jsonrpc":"2.0","id":1,"method":"hello_world","params":[${"1,".repeat(n / 2)}0]}`,
    (n) => `{"jsonrpc":"2.0","id":1,"method":"${"m".repeat(n)}","params":{}}`,
    (n) => `{"jsonrpc":"2.0","id":{"x":"${"y".repeat(n)}"},"method":"get_status"}`];
  const round = async (n) => {
    let i = 0;
    const one = async () => {
      while (i < n) {
        const k = i++;
        const text = shapes[Math.floor(k / sizes.length) % shapes.length](sizes[k % sizes.length]);
        await nc.request(CMD, sc.encode(text), { timeout: 10000 }).catch(() => {});
      }
    };
    await Promise.all(Array.from({ length: 16 }, one));
  };
  // "Before" is a daemon that has served well-formed traffic only.
  for (let k = 0; k < 200; k++) await request(nc, CMD, k % 2 ? "get_status" : "hello-world.hello_world", {});
  const before = rssKiB(h.pid);
  for (const r of [1, 2]) {
    await round(5000);
    // The last trim of a burst is deferred by up to a second: wait for it.
    const after = await waitFor(() => { const v = rssKiB(h.pid); return v <= before * 1.1 ? v : null; }, 5000)
      .catch(() => rssKiB(h.pid));
    console.log(`# round ${r}: RSS ${before} KiB before, ${after} KiB after 5000 malformed requests`);
    assert.ok(after <= before * 1.1, `RSS grew from ${before} to ${after} KiB`);
  }
  assert.equal((await request(nc, CMD, "get_status")).result.status, "success");
  await nc.close();
});
