// SPDX-License-Identifier: MIT
// The advertisement at scale (200 plugins x 20 functions must fit the
// server's max_payload) and D2D presence (burst, probe answers, departure).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { connect, StringCodec } from "nats";
import { rpcUntilAnswered, startNats as natsServer, waitFor } from "./helpers.mjs";

const sc = StringCodec();
const HOSTD = process.env.DC_HOSTD;
const PLUGINS = process.env.DC_TEST_PLUGINS_DIR;
const FIXTURES = process.env.DC_FIXTURES_DIR;
const base = "/run/dc-plugin-host-tests";
fs.mkdirSync(base, { recursive: true, mode: 0o755 });
const tmp = fs.mkdtempSync(path.join(base, "scale-"));
fs.chmodSync(tmp, 0o755);
const procs = [];

async function startNats() {
  const p = await natsServer();
  procs.push(p);
  return p;
}



function startHostd(name, root, lines) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, "state"), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, "hostd.conf"), [`PluginDirectories=${root}`, `StateDirectory=${dir}/state`,
    `SignaturesFile=${dir}/none.json`, `TrustedKeysDirectory=${dir}/none.d`,
    "AllowUnverifiedMeshInstalls=yes", ...lines, ""].join("\n"));
  const log = path.join(dir, "hostd.log");
  const p = spawn(HOSTD, ["--config", path.join(dir, "hostd.conf"), "--no-bus", "--log-target=console"], {
    stdio: ["ignore", fs.openSync(log, "a"), fs.openSync(log, "a")],
    env: { ...process.env, DEVICE_CONNECT_REGISTER_JITTER: "0" },
  });
  procs.push(p);
  return p;
}

async function stop(p) {
  if (p.exitCode === null) {
    p.kill("SIGTERM");
    await new Promise((r) => p.on("exit", r));
  }
  return p.exitCode;
}

after(async () => {
  for (const p of procs) await stop(p);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("200 plugins x 20 functions: the registration fits max_payload and lists every function", async () => {
  const so = fs.readFileSync(path.join(PLUGINS, "many-XXX.so"));
  const root = path.join(tmp, "many");
  fs.mkdirSync(root, { mode: 0o755 });
  for (let i = 0; i < 200; i++) {
    const id = "many-" + String(i).padStart(3, "0");
    const d = path.join(root, id);
    fs.mkdirSync(d, { mode: 0o755 });
    // same length as the placeholder: patch the compiled-in id
    fs.writeFileSync(path.join(d, id + ".so"), Buffer.from(so.toString("latin1").replaceAll("many-XXX", id), "latin1"), { mode: 0o644 });
    fs.writeFileSync(path.join(d, "manifest.json"), JSON.stringify({ id, version: "1.0.0", runtime: "c", api_level: 1 }), { mode: 0o644 });
  }
  const server = await startNats();
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const regs = [];
  nc.subscribe("device-connect.lab.registry", {
    callback: (e, m) => {
      regs.push(m.data.length);
      regs.doc = JSON.parse(sc.decode(m.data));
      m.respond(sc.encode(JSON.stringify({ jsonrpc: "2.0", id: regs.doc.id,
        result: { status: "registered", device_registration_id: "0b9a4c3e-1f2d-4e5f-9a8b-7c6d5e4f3a2b" } })));
    },
  });
  await nc.flush();
  const h = startHostd("many", root, [`MeshURLs=nats://127.0.0.1:${server.port}`, "Tenant=lab", "DeviceId=many-host"]);
  await waitFor(() => regs.length > 0, 20000, "registerDevice");
  assert.ok(regs[0] <= nc.info.max_payload, `registration ${regs[0]} bytes > max_payload ${nc.info.max_payload}`);
  const names = new Set(regs.doc.params.capabilities.functions.map((f) => f.name));
  for (let i = 0; i < 200; i++)
    for (let f = 0; f < 20; f++) {
      const fn = f < 6 ? ["probe", "config", "emit", "bad_result", "sleepy", "max_active"][f] : "reading_" + String(f - 6).padStart(2, "0");
      assert.ok(names.has(`many-${String(i).padStart(3, "0")}.${fn}`), fn);
    }
  console.log(`# registration with 200 x 20 functions: ${regs[0]} bytes (max_payload ${nc.info.max_payload})`);
  assert.equal(await stop(h), 0);
  await nc.close();
});

test("the first heartbeat leaves at connect, not a heartbeat period later", async () => {
  const server = await startNats();
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const beats = [];
  nc.subscribe("device-connect.lab.beat-host.heartbeat", { callback: (e, m) => beats.push(Date.now()) });
  await nc.flush();
  const root = path.join(tmp, "beat-plugins");
  fs.mkdirSync(root, { mode: 0o755 });
  // MeshTTLSec=60: the timer's period is 20 s, so a beat within 5 s is the one sent at connect
  const t0 = Date.now();
  const h = startHostd("beat", root, [`MeshURLs=nats://127.0.0.1:${server.port}`, "Tenant=lab", "DeviceId=beat-host",
    "MeshTTLSec=60"]);
  await waitFor(() => beats.length >= 1, 5000, "the first heartbeat");
  assert.ok(beats[0] - t0 < 5000);
  assert.equal(await stop(h), 0);
  await nc.close();
});

test("D2D: presence burst, probe answers, departure", async () => {
  const server = await startNats();
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const seen = [];
  nc.subscribe("device-connect.lab.*.presence", { callback: (e, m) => seen.push(JSON.parse(sc.decode(m.data))) });
  await nc.flush();
  const root = path.join(tmp, "d2d-plugins");
  fs.mkdirSync(root, { mode: 0o755 });
  const h = startHostd("d2d", root, [`MeshURLs=nats://127.0.0.1:${server.port}`, "Tenant=lab", "DeviceId=d2d-host",
    "MeshDiscoveryMode=d2d"]);
  await waitFor(() => seen.length >= 3, 10000, "a presence burst");
  const doc = seen[0];
  const golden = JSON.parse(fs.readFileSync(path.join(FIXTURES, "presence.json"), "utf8"));
  for (const k of Object.keys(golden)) assert.ok(k in doc, k);
  assert.equal(doc.d2d, true);
  assert.equal(doc.device_id, "d2d-host");
  assert.equal(typeof doc.ts, "number");
  assert.ok(doc.capabilities.functions.some((f) => f.name === "get_status"));
  // the burst runs at 0.5 s
  assert.ok(seen[2].ts - seen[1].ts < 0.9);
  // a probe gets an immediate extra presence
  const n = seen.length;
  nc.publish("device-connect.lab.discovery.probe", sc.encode(JSON.stringify({ probe: true, ts: Date.now() / 1000 })));
  const t0 = Date.now();
  await waitFor(() => seen.length > n, 2000, "a presence answering the probe");
  assert.ok(Date.now() - t0 < 400);
  // departure on shutdown
  assert.equal(await stop(h), 0);
  await waitFor(() => seen.some((s) => s.departing === true), 5000, "departure");
  const dep = seen.find((s) => s.departing);
  const gdep = JSON.parse(fs.readFileSync(path.join(FIXTURES, "departure.json"), "utf8"));
  assert.deepEqual(Object.keys(dep).sort(), Object.keys(gdep).sort());
  await nc.close();
});

test("registration retry with backoff, operation rate limit, loaded-plugin cap, dotted device ids", async () => {
  const server = await startNats();
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const regs = [];
  nc.subscribe("device-connect.lab.registry", {
    callback: (e, m) => {
      const req = JSON.parse(sc.decode(m.data));
      regs.push(Date.now());
      // the first answer is not a UUID: it must count as a failed attempt
      const id = regs.length === 1 ? "not-a-uuid" : "0b9a4c3e-1f2d-4e5f-9a8b-7c6d5e4f3a2b";
      m.respond(sc.encode(JSON.stringify({ jsonrpc: "2.0", id: req.id, result: { status: "registered", device_registration_id: id } })));
    },
  });
  await nc.flush();
  const root = path.join(tmp, "limits-plugins");
  fs.mkdirSync(root, { mode: 0o755 });
  for (const name of ["hello-world", "counter"]) {
    fs.mkdirSync(path.join(root, name), { mode: 0o755 });
    for (const f of [name + ".so", "manifest.json"])
      fs.copyFileSync(path.join(process.env.DC_EXAMPLES_DIR, name, f), path.join(root, name, f));
  }
  const h = startHostd("limits", root, [`MeshURLs=nats://127.0.0.1:${server.port}`, "Tenant=lab", "DeviceId=limits-host",
    "MeshOperationsPerMinute=3", "MaxLoadedPlugins=2", "AutoLoad=no"]);
  await waitFor(() => regs.length >= 2, 10000, "a second registerDevice after the invalid reply");
  assert.ok(regs[1] - regs[0] >= 900, `retried after ${regs[1] - regs[0]} ms (backoff 1 s)`);
  const ask = async (method, params) => {
    const m = await nc.request("device-connect.lab.limits-host.cmd",
      sc.encode(JSON.stringify({ jsonrpc: "2.0", id: 1, method, params })), { timeout: 5000 });
    return JSON.parse(sc.decode(m.data)).result;
  };
  assert.equal((await ask("load_plugin", { plugin_id: "hello-world" })).status, "success");
  assert.equal((await ask("load_plugin", { plugin_id: "counter" })).status, "success");
  // two loaded = MaxLoadedPlugins: the next load is refused (it also spends a token)
  assert.equal((await ask("load_plugin", { plugin_id: "sensor" })).error, "limit-exceeded");
  // three operations spent: the fourth within the minute is rate-limited
  const r = await ask("reload_plugin", { plugin_id: "counter" });
  assert.deepEqual([r.status, r.error], ["error", "rate-limited"]);
  assert.equal((await ask("get_status", {})).status, "success"); // reads are never limited
  assert.equal(await stop(h), 0);

  // a device id with a dot is refused unless explicitly allowed
  const d = startHostd("dotted", root, [`MeshURLs=nats://127.0.0.1:${server.port}`, "Tenant=lab", "DeviceId=lab.host"]);
  await new Promise((res) => d.on("exit", res));
  assert.equal(d.exitCode, 1);
  assert.match(fs.readFileSync(path.join(tmp, "dotted", "hostd.log"), "utf8"), /Invalid device id "lab.host" \(a '\.' needs AllowDottedDeviceId=yes\)/);
  await nc.close();
});

test("install_plugin: only folders below ImportDirectory=, reached without links", async () => {
  const server = await startNats();
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const imp = path.join(tmp, "import");
  fs.mkdirSync(path.join(imp, "drop", "probe"), { recursive: true, mode: 0o755 });
  fs.copyFileSync(path.join(PLUGINS, "probe-a.so"), path.join(imp, "drop", "probe", "probe.so"));
  fs.writeFileSync(path.join(imp, "drop", "probe", "manifest.json"), JSON.stringify({ id: "probe", version: "1.0.0", runtime: "c", api_level: 1 }));
  fs.symlinkSync("/etc", path.join(imp, "etc-link"));
  fs.symlinkSync(path.join(imp, "drop"), path.join(imp, "drop-link"));
  const root = path.join(tmp, "import-plugins");
  fs.mkdirSync(root, { mode: 0o755 });
  const h = startHostd("importer", root, [`MeshURLs=nats://127.0.0.1:${server.port}`, "Tenant=lab", "DeviceId=importer",
    `ImportDirectory=${imp}`]);
  const ask = async (params) =>
    (await rpcUntilAnswered(nc, "device-connect.lab.importer.cmd", "install_plugin", params, { each: 5000 })).result;
  for (const bad of ["/etc", "../etc", "etc-link", "drop-link/probe", "drop/../../etc", "drop/missing"]) {
    const r = await ask({ source_path: bad });
    assert.deepEqual([r.status, r.message], ["error", `Source path is not a directory: ${bad}`], bad);
  }
  assert.equal((await ask({ source_path: "drop" })).message, "Missing manifest.json in drop");
  let r = await ask({ source_path: path.join(imp, "drop", "probe") });
  assert.deepEqual([r.status, r.plugin_id, r.load_result.status], ["success", "probe", "success"]);
  r = await ask({ source_path: "drop/probe" });
  assert.equal(r.error, "already-exists");
  assert.equal(await stop(h), 0);
  await nc.close();
});

test("a reply over the server's max_payload becomes an error reply", async () => {
  const server = await natsServer({ conf: "port: -1\nhost: 127.0.0.1\nmax_payload: 4096\n", confPath: path.join(tmp, "small.conf") });
  procs.push(server);
  const nc = await connect({ servers: `127.0.0.1:${server.port}` });
  const root = path.join(tmp, "small-plugins");
  fs.mkdirSync(root, { mode: 0o755 });
  const h = startHostd("small", root, [`MeshURLs=nats://127.0.0.1:${server.port}`, "Tenant=lab", "DeviceId=small-host"]);
  const ask = (method) => rpcUntilAnswered(nc, "device-connect.lab.small-host.cmd", method, {}, { id: "big", each: 5000 });
  assert.equal((await ask("get_status")).result.status, "success");
  // the advertisement is ~12 KB: too big for this server
  const r = await ask("requestRegistration");
  assert.deepEqual(r, { jsonrpc: "2.0", id: "big", error: { code: -32000, message: "reply exceeds the server's max_payload" } });
  assert.equal((await ask("get_status")).result.status, "success"); // still serving
  assert.equal(await stop(h), 0);
  await nc.close();
});
