// SPDX-License-Identifier: MIT
// The mesh front end end to end: a real nats-server on loopback, the real
// dc-plugin-hostd (no D-Bus), and nats.js as the independent caller and as a
// fake registry.  Run by tests/run-mesh-tests.sh (node --test).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { connect, StringCodec } from "nats";
import { rpcUntilAnswered, startNats as natsServer, waitFor } from "./helpers.mjs";

const startNats = (port = 0) => natsServer({ port });

const sc = StringCodec();
const HOSTD = process.env.DC_HOSTD;
const EXAMPLES = process.env.DC_EXAMPLES_DIR;
const FIXTURES = process.env.DC_FIXTURES_DIR;
const TENANT = "lab";
const DEVICE = "ph-test";
const CMD = `device-connect.${TENANT}.${DEVICE}.cmd`;

let natsProc, natsPort, hostd, tmp, nc, store;
const registrations = [];
let registryMode = "answer"; // answer | silent
let registrySub;



function writeConfig() {
  const conf = path.join(tmp, "hostd.conf");
  fs.writeFileSync(conf, [
    `PluginDirectories=${path.join(tmp, "plugins")}`,
    `StateDirectory=${path.join(tmp, "state")}`,
    `SignaturesFile=${tmp}/none.json`, `TrustedKeysDirectory=${tmp}/none.d`, `PluginConfigDirectory=${tmp}/none`,
    `MeshURLs=nats://127.0.0.1:${natsPort}`, `Tenant=${TENANT}`, `DeviceId=${DEVICE}`, "MeshTTLSec=3", "Workers=4",
    "AllowUnverifiedMeshInstalls=yes",
    // the direct-call test needs its plugin in the daemon's own process
    "PluginIsolation=fast:in-process", "",
  ].join("\n"));
  return conf;
}

function startHostd() {
  const log = fs.openSync(path.join(tmp, "hostd.log"), "a");
  hostd = spawn(HOSTD, ["--config", path.join(tmp, "hostd.conf"), "--no-bus", "--log-target=console"], {
    stdio: ["ignore", log, log],
    env: { ...process.env, DEVICE_CONNECT_REGISTER_JITTER: "0", DEVICE_CONNECT_REGISTER_TIMEOUT: "1" },
  });
}

async function rpc(method, params = {}, { id = "t-" + Math.random().toString(16).slice(2, 10), timeout = 10000 } = {}) {
  const m = await nc.request(CMD, sc.encode(JSON.stringify({ jsonrpc: "2.0", id, method, params })), { timeout });
  const reply = JSON.parse(sc.decode(m.data));
  assert.equal(reply.jsonrpc, "2.0");
  assert.deepEqual(reply.id, id);
  return reply;
}

async function result(method, params) {
  const r = await rpc(method, params);
  assert.ok("result" in r, JSON.stringify(r));
  return r.result;
}

async function raw(text, timeout = 5000) {
  const m = await nc.request(CMD, sc.encode(text), { timeout });
  return JSON.parse(sc.decode(m.data));
}

function fixture(name) {
  return JSON.parse(fs.readFileSync(path.join(FIXTURES, name), "utf8"));
}

// Every key of the golden object exists in ours with the same JSON type (recursively for objects).
function assertShape(golden, ours, where = "") {
  for (const [k, v] of Object.entries(golden)) {
    assert.ok(k in ours, `${where}.${k} missing in ${JSON.stringify(ours)}`);
    const t = (x) => (x === null ? "null" : Array.isArray(x) ? "array" : typeof x);
    assert.equal(t(ours[k]), t(v), `${where}.${k}: type`);
    if (t(v) === "object") assertShape(v, ours[k], `${where}.${k}`);
  }
}

function lastRegistration() {
  return registrations[registrations.length - 1];
}

function functionNames(reg) {
  return reg.params.capabilities.functions.map((f) => f.name);
}

before(async () => {
  const base = "/run/dc-plugin-host-tests";
  fs.mkdirSync(base, { recursive: true, mode: 0o755 });
  tmp = fs.mkdtempSync(path.join(base, "mesh-"));
  fs.chmodSync(tmp, 0o755);
  fs.mkdirSync(path.join(tmp, "plugins"), { mode: 0o755 });
  for (const name of ["hello-world", "counter", "sensor"]) {
    const d = path.join(tmp, "plugins", name);
    fs.mkdirSync(d, { mode: 0o755 });
    for (const f of [name + ".so", "manifest.json"]) {
      fs.copyFileSync(path.join(EXAMPLES, name, f), path.join(d, f));
      fs.chmodSync(path.join(d, f), 0o644);
    }
  }
  fs.mkdirSync(path.join(tmp, "state"), { mode: 0o700 });
  store = path.join(tmp, "state", "plugins");
  natsProc = await startNats();
  natsPort = natsProc.port;
  nc = await connect({ servers: `127.0.0.1:${natsPort}`, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  // the fake registry (nats.js), answering registerDevice with a UUID
  registrySub = nc.subscribe(`device-connect.${TENANT}.registry`, {
    callback: (err, m) => {
      const req = JSON.parse(sc.decode(m.data));
      registrations.push(req);
      if (registryMode === "silent") return;
      m.respond(sc.encode(JSON.stringify({ jsonrpc: "2.0", id: req.id,
        result: { status: "registered", device_registration_id: "6f1c2b3a-0d4e-4f5a-8b6c-7d8e9f0a1b2c" } })));
    },
  });
  await nc.flush();
  writeConfig();
  startHostd();
  await waitFor(() => registrations.length > 0, 10000, "the first registerDevice");
});

after(async () => {
  if (hostd && hostd.exitCode === null) {
    const exited = new Promise((r) => hostd.on("exit", r));
    hostd.kill("SIGTERM");
    // bounded: a daemon that does not stop is a failure with its log, not a hang
    const timer = setTimeout(() => { console.error("daemon did not stop within 15 s"); hostd.kill("SIGKILL"); }, 15000);
    await exited;
    clearTimeout(timer);
  }
  if (hostd.exitCode !== 0) console.error(fs.readFileSync(path.join(tmp, "hostd.log"), "utf8").slice(-4000));
  await nc.close();
  natsProc.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
  assert.equal(hostd.exitCode, 0, "daemon exit status");
});

test("registration: shape, plugin functions and events, boolean schemas", async () => {
  const reg = registrations[0];
  assertShape(fixture("registerDevice-request.json"), reg);
  assert.equal(reg.method, "registerDevice");
  assert.match(reg.id, new RegExp(`^${DEVICE}-\\d{13}$`));
  const p = reg.params;
  assert.equal(p.device_id, DEVICE);
  assert.equal(p.device_ttl, 3);
  assert.equal(p.identity.device_type, "plugin_host");
  assert.equal(p.identity.model, `Plugin Host (${DEVICE})`);
  assert.equal(p.capabilities.labels["plugin_driver:role"], "plugin_host");
  const names = functionNames(reg);
  for (const n of ["get_status", "list_plugins", "load_plugin", "unload_plugin", "reload_plugin", "install_plugin",
    "install_plugin_from_url", "install_plugin_from_bundle", "install_plugin_from_docker", "install_plugin_from_manifest",
    "publish_plugin_artifact", "list_plugin_artifacts", "get_plugin_artifact_url", "deploy_sidecar", "undeploy_sidecar",
    "get_plugin_authoring_guide", "get_plugin_template", "list_plugin_examples"]) assert.ok(names.includes(n), n);
  // the Python host never advertises these (D1)
  for (const n of ["hello-world.echo", "echo", "hello_world", "sensor.read", "counter.increment"]) assert.ok(names.includes(n), n);
  const read = p.capabilities.functions.find((f) => f.name === "sensor.read");
  assert.equal(read.parameters.type, "object");
  const deps = p.capabilities.functions.find((f) => f.name === "load_plugin").parameters.properties.install_dependencies;
  assert.deepEqual(deps.type, "boolean"); // D11
  assert.equal(deps.default, null);
  const events = p.capabilities.events.map((e) => e.name);
  for (const e of ["plugin_loaded", "plugin_unloaded", "tick", "alert"]) assert.ok(events.includes(e), e);
  assert.ok(typeof p.status.ts === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(p.status.ts));
});

test("requestRegistration returns the advertisement", async () => {
  const r = await result("requestRegistration");
  assert.equal(r.device_id, DEVICE);
  assert.ok(r.capabilities.functions.some((f) => f.name === "sensor.read"));
});

test("plugin functions: bare and prefixed, params, failures, _dc_meta", async () => {
  assert.deepEqual(await result("hello_world", { name: "mesh" }), { message: "Hello, mesh!" });
  assert.deepEqual(await result("hello-world.hello_world", {}), { message: "Hello, world!" });
  // _dc_meta and a top-level source_device are caller metadata, not params
  const d2d = fixture("d2d-request-with-dc-meta.json");
  const r = await rpc("sensor.read", { channel: 1, _dc_meta: d2d.params._dc_meta, source_device: "x" });
  assert.equal(r.result.channel, 1);
  const bad = await rpc("sensor.read", { channel: "one" });
  assert.equal(bad.error.code, -32602);
  const fail = await rpc("sensor.fail", {});
  assert.equal(fail.error.code, -32000);
  assert.equal(fail.error.message, "Error invoking sensor.fail: sensor is unplugged");
  assertShape(fixture("error-invoke-failed.json"), fail);
  const unknown = await rpc("no_such_method", {});
  assert.deepEqual(unknown.error, { code: -32601, message: "Unknown method: no_such_method" });
  assertShape(fixture("error-unknown-method.json"), unknown);
  assert.equal((await rpc("nope.fn", {})).error.code, -32601);
  // numeric and large ids echo verbatim
  const big = await raw('{"jsonrpc":"2.0","id":12345678901234,"method":"get_status"}');
  assert.equal(big.id, 12345678901234);
});

test("malformed requests get JSON-RPC errors, notifications get nothing", async () => {
  let r = await raw("{not json");
  assert.deepEqual([r.id, r.error.code], [null, -32700]);
  r = await raw("[1,2]");
  assert.equal(r.error.code, -32600);
  r = await raw('{"jsonrpc":"2.0","id":"p","method":"get_status","params":[1]}');
  assert.deepEqual([r.id, r.error.code], ["p", -32602]);
  r = await raw('{"jsonrpc":"2.0","id":"m","params":{}}');
  assert.deepEqual(r.error, { code: -32601, message: "Unknown method: None" });
  r = await raw('{"jsonrpc":"2.0","id":{"x":1},"method":"get_status"}');
  assert.equal(r.error.code, -32600);
  r = await raw('{"jsonrpc":"2.0","id":"d","method":"get_status"} trailing');
  assert.equal(r.error.code, -32700);
  // unknown and mistyped host RPC params (D10, D11)
  r = await rpc("load_plugin", { plugin_id: "counter", bogus: 1 });
  assert.deepEqual(r.error, { code: -32602, message: "Invalid params: unexpected parameter 'bogus'" });
  r = await rpc("load_plugin", { plugin_id: "counter", install_dependencies: "yes" });
  assert.equal(r.error.code, -32602);
  r = await rpc("unload_plugin", {});
  assert.equal(r.error.message, "Invalid params: missing required parameter 'plugin_id'");
  // a notification (no id) is processed but never answered: the reply to the
  // request sent right after it is the first message on the inbox
  const inbox = nc.subscribe("_INBOX.notify-test", { max: 1 });
  nc.publish(CMD, sc.encode('{"jsonrpc":"2.0","method":"get_status"}'), { reply: "_INBOX.notify-test" });
  nc.publish(CMD, sc.encode('{"jsonrpc":"2.0","id":"after","method":"get_status"}'), { reply: "_INBOX.notify-test" });
  const first = await Promise.race([(async () => { for await (const m of inbox) return JSON.parse(sc.decode(m.data)); })(),
    new Promise((_, rej) => setTimeout(() => rej(new Error("no reply to the request after the notification")), 10000))]);
  assert.equal(first.id, "after");
});

test("host RPCs: result envelopes and the Python host's texts", async () => {
  const st = await result("get_status");
  assert.deepEqual([st.status, st.connected, st.device_type, st.loaded_count], ["success", true, "plugin_host", 3]);
  assert.deepEqual(st.loaded_plugins.sort(), ["counter", "hello-world", "sensor"]);
  const lp = await result("list_plugins");
  assert.deepEqual(Object.keys(lp.loaded).sort(), ["counter", "hello-world", "sensor"]);
  assert.deepEqual(lp.loaded.sensor.manifest.id, "sensor");
  assert.ok(lp.available.every((e) => "id" in e && "path" in e && "loaded" in e));
  const nl = await result("unload_plugin", { plugin_id: "demo" });
  assertShape(fixture("result-error-not-loaded.json").result, nl);
  assert.equal(nl.message, "Plugin 'demo' is not loaded");
  assert.equal(nl.error, "not-loaded");
  // no containers: docker manifests are refused; "sidecars" are sandboxed worker processes
  for (const [m, p] of [["install_plugin_from_docker", { manifest: { id: "x", image: "y" } }],
    ["install_plugin_from_manifest", { manifest: { type: "docker" } }]]) {
    const r = await result(m, p);
    assertShape(fixture("result-error-sidecars-disabled.json").result, r);
    assert.match(r.message, /^Docker manifests are not supported: this host runs C plugins and isolates them in sandboxed worker processes/);
  }
  for (const m of ["deploy_sidecar", "undeploy_sidecar"]) {
    const r = await result(m, { plugin_id: "x" });
    assert.deepEqual([r.status, r.error, r.message], ["error", "not-found", "Capability not found: x"]);
  }
  const bad = await result("load_plugin", { plugin_id: "../x" });
  assert.deepEqual([bad.status, bad.error], ["error", "invalid-id"]);
  assert.equal((await result("load_plugin", { plugin_id: "missing" })).message, "Failed to load plugin 'missing'");
  assert.equal((await result("install_plugin", { source_path: "/etc" })).status, "error");
  const t = await result("get_plugin_template", { plugin_id: "garage-door" });
  assert.equal(t.class_name, "GarageDoorCapability");
  assert.equal(t.manifest.id, "garage-door");
  assert.ok(t.capability_py.includes("DC_PLUGIN_DEFINE"));
  assert.equal((await result("get_plugin_template", { plugin_id: "a/b" })).message,
    "plugin_id must be a simple name (e.g. garage-door)");
  const g = await result("get_plugin_authoring_guide");
  assert.deepEqual([g.version, g.workflow.length, g.install_methods.length], ["1", 6, 7]);
  assert.equal((await result("list_plugin_examples")).examples.length, 3);
  const pub = await result("publish_plugin_artifact", { plugin_id: "hello-world", version: "../../x" });
  assert.equal(pub.status, "error");
  assert.equal((await result("get_plugin_artifact_url", { plugin_id: "nothing" })).message, "artifact not found for nothing");
  assert.equal((await result("list_plugin_artifacts")).status, "success");
});

test("unload and load: events, re-registration without the plugin, in the background", async () => {
  const events = [];
  const sub = nc.subscribe(`device-connect.${TENANT}.${DEVICE}.event.>`, {
    callback: (e, m) => events.push([m.subject, JSON.parse(sc.decode(m.data))]),
  });
  await nc.flush();
  const before = registrations.length;
  registryMode = "silent"; // a dead registry must not delay any reply (D5)
  const t0 = Date.now();
  assert.deepEqual(await result("unload_plugin", { plugin_id: "hello-world" }), { status: "success", plugin_id: "hello-world" });
  assert.ok(Date.now() - t0 < 1000);
  await waitFor(() => events.some(([s]) => s.endsWith(".event.plugin_unloaded")), 5000, "plugin_unloaded");
  const un = events.find(([s]) => s.endsWith(".event.plugin_unloaded"))[1];
  assertShape(fixture("event-plugin_loaded.json"), { ...un, params: { ...un.params, functions: [] } });
  assert.equal(un.params.plugin_id, "hello-world");
  assert.match(un.params.event_id, /^[0-9a-f]{8}$/);
  assert.match(un.params._trace_id, /^[0-9a-f]{16}$/);
  await waitFor(() => registrations.length > before, 5000, "re-registration after unload");
  assert.ok(!functionNames(lastRegistration()).includes("hello-world.echo"));
  // bare name gone with its only owner
  assert.equal((await rpc("hello_world", {})).error.code, -32601);
  registryMode = "answer";
  const t1 = Date.now();
  const loaded = await result("load_plugin", { plugin_id: "hello-world" });
  assert.ok(Date.now() - t1 < 1000);
  assert.deepEqual(loaded.plugin.functions, ["hello_world", "echo"]);
  await waitFor(() => events.some(([s]) => s.endsWith(".event.plugin_loaded")), 5000, "plugin_loaded");
  const ev = events.find(([s]) => s.endsWith(".event.plugin_loaded"))[1];
  assertShape(fixture("event-plugin_loaded.json"), ev);
  assert.deepEqual(ev.params.functions, ["hello_world", "echo"]);
  await waitFor(() => functionNames(lastRegistration()).includes("hello-world.echo"), 5000, "re-registration after load");
  // plugin events (the counter's tick routine) are published under the host's id
  await waitFor(() => events.some(([s]) => s === `device-connect.${TENANT}.${DEVICE}.event.tick`), 5000, "tick");
  const tick = events.find(([s]) => s.endsWith(".event.tick"))[1];
  assert.equal(tick.method, "tick");
  assert.ok("ticks" in tick.params && "event_id" in tick.params && "ts" in tick.params);
  sub.unsubscribe();
});

test("heartbeats every max(1, ttl/3) s", async () => {
  const beats = [];
  const sub = nc.subscribe(`device-connect.${TENANT}.${DEVICE}.heartbeat`, {
    callback: (e, m) => beats.push(JSON.parse(sc.decode(m.data))),
  });
  await waitFor(() => beats.length >= 2, 5000, "two heartbeats");
  sub.unsubscribe();
  assertShape(fixture("heartbeat.json"), beats[0]);
  assert.equal(beats[0].device_id, DEVICE);
  assert.ok(beats[1].ts - beats[0].ts > 0.5 && beats[1].ts - beats[0].ts < 2);
});

test("a slow plugin call never delays get_status", async () => {
  const slow = rpc("sensor.slow", { ms: 2000 });
  const lat = [];
  for (let i = 0; i < 20; i++) {
    const t0 = process.hrtime.bigint();
    await result("get_status");
    lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  assert.ok(Math.max(...lat) < 500, `get_status took ${Math.max(...lat)} ms`);
  assert.deepEqual((await slow).result, { slept_ms: 2000 });
});

// Replies in the order they arrive, tagged with the request's name.
async function arrivalOrder(calls) {
  const order = [];
  await Promise.all(calls.map(([name, method, params]) => rpc(method, params).then((r) => {
    assert.ok("result" in r, JSON.stringify(r));
    order.push(name);
  })));
  return order;
}

test("deploy_sidecar / undeploy_sidecar move a plugin into a sandboxed worker process and back", async () => {
  // "fast" runs in process (PluginIsolation=fast:in-process in this daemon's configuration)
  const d = path.join(tmp, "plugins", "fast");
  if (!fs.existsSync(d)) {
    fs.mkdirSync(d, { mode: 0o755 });
    fs.copyFileSync(path.join(process.env.DC_TEST_PLUGINS_DIR, "fast.so"), path.join(d, "fast.so"));
    fs.chmodSync(path.join(d, "fast.so"), 0o644);
    fs.writeFileSync(path.join(d, "manifest.json"), JSON.stringify({ id: "fast", version: "1.0.0", runtime: "c", api_level: 1 }));
  }
  const loaded = await result("load_plugin", { plugin_id: "fast" });
  assert.ok(loaded.status === "success" || loaded.error === "already-loaded", JSON.stringify(loaded));
  const before = await result("get_status");
  assert.equal((await result("list_plugins")).loaded.fast.isolation, "in-process");
  const dep = await result("deploy_sidecar", { plugin_id: "fast" });
  assert.equal(dep.status, "success", JSON.stringify(dep));
  assert.equal(dep.deployment.mode, "process");
  assert.equal(dep.deployment.container, false);
  assert.ok(dep.deployment.worker.pid > 0 && dep.deployment.worker.seccomp, JSON.stringify(dep.deployment.worker));
  assert.deepEqual(await result("fast.fast_echo", { n: 7 }), { n: 7 });
  const during = await result("get_status");
  assert.equal(during.sidecar_count, before.sidecar_count + 1);
  assert.equal(during.enable_sidecars, true);
  assert.ok("landlock_abi" in during.sandbox);
  const lp = await result("list_plugins");
  assert.equal(lp.loaded.fast.isolation, "process");
  assert.ok(lp.sidecars.fast.pid > 0);
  const und = await result("undeploy_sidecar", { plugin_id: "fast" });
  assert.deepEqual([und.status, und.plugin_id, und.stopped, und.isolation], ["success", "fast", true, "in-process"]);
  assert.equal((await result("get_status")).sidecar_count, before.sidecar_count);
  // a plugin the configuration isolates stays in its worker
  const stays = await result("undeploy_sidecar", { plugin_id: "hello-world" });
  assert.deepEqual([stays.status, stays.stopped, stays.isolation], ["success", false, "process"]);
});

test("non-blocking functions answer on the receiving thread; one that stalls moves to the pool", async () => {
  const d = path.join(tmp, "plugins", "fast");
  fs.mkdirSync(d, { recursive: true, mode: 0o755 }); // the sidecar test may have made it
  fs.copyFileSync(path.join(process.env.DC_TEST_PLUGINS_DIR, "fast.so"), path.join(d, "fast.so"));
  fs.chmodSync(path.join(d, "fast.so"), 0o644);
  fs.writeFileSync(path.join(d, "manifest.json"), JSON.stringify({ id: "fast", version: "1.0.0", runtime: "c", api_level: 1 }));
  assert.equal((await result("load_plugin", { plugin_id: "fast" })).status, "success");
  // the same envelopes as through the worker pool
  assert.deepEqual(await result("fast_echo", { n: 3, _dc_meta: { source_device: "x" } }), { n: 3 });
  assert.deepEqual(await result("fast.fast_echo", { n: 4 }), { n: 4 });
  assert.deepEqual((await rpc("fast.fast_echo", { n: "x" })).error,
    { code: -32602, message: "Invalid params: params.n: expected integer" });
  assert.deepEqual((await rpc("fast_fail", {})).error,
    { code: -32000, message: "Error invoking fast_fail: fast failure as asked" });
  assert.deepEqual((await rpc("fast.fast_echo", [1])).error.code, -32602);
  // Run directly, a call holds the thread that receives requests: a
  // get_status sent right behind a 300 ms stall is answered after it...
  assert.deepEqual(await arrivalOrder([["stall", "fast.stall", { ms: 300 }], ["status", "get_status", {}]]),
    ["stall", "status"]);
  // ...and broke the promise: logged, and from now on it runs on the pool.
  const log = path.join(tmp, "hostd.log");
  await waitFor(() => fs.readFileSync(log, "utf8").includes("non-blocking function stall took"), 5000, "the demotion");
  assert.deepEqual(await arrivalOrder([["stall", "fast.stall", { ms: 1000 }], ["status", "get_status", {}]]),
    ["status", "stall"]);
  assert.deepEqual(await result("fast_echo", { n: 5 }), { n: 5 });
  assert.equal((await result("unload_plugin", { plugin_id: "fast" })).status, "success");
  assert.equal((await rpc("fast_echo", { n: 6 })).error.code, -32601);
});

function packProbe(variant) {
  const src = fs.mkdtempSync(path.join(tmp, "src-"));
  fs.mkdirSync(path.join(src, "probe"));
  fs.copyFileSync(path.join(process.env.DC_TEST_PLUGINS_DIR, variant + ".so"), path.join(src, "probe", "probe.so"));
  fs.writeFileSync(path.join(src, "probe", "manifest.json"),
    JSON.stringify({ id: "probe", version: "1.0.0", runtime: "c", api_level: 1 }));
  return execFileSync("tar", ["-czf", "-", "-C", src, "probe"]);
}

test("install_plugin_from_bundle: install, refuse a second, replace, bad input", async () => {
  const crypto = await import("node:crypto");
  const a = packProbe("probe-a");
  const digest = "sha256:" + crypto.createHash("sha256").update(a).digest("hex");
  let r = await result("install_plugin_from_bundle", { bundle_b64: a.toString("base64"), digest });
  assert.deepEqual([r.status, r.plugin_id, r.installed_to], ["success", "probe", path.join(store, "probe")]);
  assert.deepEqual(r.load_result.plugin.functions.includes("probe"), true);
  assert.deepEqual(await result("probe.probe"), { build: "A" });
  r = await result("install_plugin_from_bundle", { bundle_b64: a.toString("base64") });
  assert.deepEqual([r.status, r.error], ["error", "already-exists"]);
  assert.match(r.message, /^Plugin 'probe' already exists/);
  const b = packProbe("probe-b");
  r = await result("install_plugin_from_bundle", { bundle_b64: b.toString("base64"), replace: true });
  assert.equal(r.status, "success");
  assert.deepEqual(await result("probe.probe"), { build: "B" });
  // publish, list, look up: a mesh URL of this host
  r = await result("publish_plugin_artifact", { plugin_id: "probe" });
  assert.equal(r.artifact.filename, "1.0.0.tgz");
  assert.equal(r.artifact.url, `dc-mesh://${TENANT}/${DEVICE}/artifacts/probe/1.0.0.tgz`);
  r = await result("get_plugin_artifact_url", { plugin_id: "probe" });
  assert.match(r.artifact.digest, /^sha256:[0-9a-f]{64}$/);
  // "sensor" lives in a read-only root: the store refuses to shadow it
  const ro = execFileSync("tar", ["-czf", "-", "-C", path.join(tmp, "plugins"), "sensor"]);
  r = await result("install_plugin_from_bundle", { bundle_b64: ro.toString("base64") });
  assert.equal(r.error, "already-exists");
  r = await result("install_plugin_from_bundle", { bundle_b64: "not base64!" });
  assert.deepEqual([r.status, r.message, r.error], ["error", "invalid base64 bundle", "archive-invalid"]);
  r = await result("install_plugin_from_bundle", { bundle_b64: a.toString("base64"), digest: "sha256:" + "0".repeat(64), replace: true });
  assert.deepEqual([r.message, r.error], ["digest mismatch", "digest-mismatch"]);
  r = await result("install_plugin_from_url", { url: "http://127.0.0.1:1/x.tgz" });
  assert.deepEqual([r.url, r.error], ["http://127.0.0.1:1/x.tgz", "url-insecure"]);
  r = await result("install_plugin_from_manifest", { manifest: { type: "wasm" } });
  assert.equal(r.message, "unsupported manifest type: wasm");
  r = await result("install_plugin_from_manifest", { manifest: { id: "x" } });
  assert.equal(r.message, "python manifest requires bundle_b64 or url");
  r = await result("install_plugin", { source_path: "/etc" });
  assert.equal(r.error, "disabled");
  // the store still holds version B, and nothing else
  assert.deepEqual(fs.readdirSync(store).filter((n) => !n.startsWith(".")), ["probe"]);
  assert.deepEqual(fs.readdirSync(path.join(store, ".staging")), []);
});

test("fleet roll-out: another host installs from this host's dc-mesh:// artifact URL", async () => {
  const art = (await result("get_plugin_artifact_url", { plugin_id: "probe" })).artifact;
  // a second daemon, same server and tenant, empty store
  const peer = path.join(tmp, "peer");
  fs.mkdirSync(path.join(peer, "plugins"), { recursive: true, mode: 0o755 });
  fs.mkdirSync(path.join(peer, "state"), { mode: 0o700 });
  fs.writeFileSync(path.join(peer, "hostd.conf"), [`PluginDirectories=${peer}/plugins`, `StateDirectory=${peer}/state`,
    `SignaturesFile=${peer}/none.json`, `TrustedKeysDirectory=${peer}/none.d`, `MeshURLs=nats://127.0.0.1:${natsPort}`,
    "AllowUnverifiedMeshInstalls=yes",
    `Tenant=${TENANT}`, "DeviceId=ph-peer", "MaxArchiveSize=1M", ""].join("\n"));
  const log = fs.openSync(path.join(peer, "hostd.log"), "a");
  const p = spawn(HOSTD, ["--config", path.join(peer, "hostd.conf"), "--no-bus", "--log-target=console"],
    { stdio: ["ignore", log, log], env: { ...process.env, DEVICE_CONNECT_REGISTER_JITTER: "0" } });
  const PEER = `device-connect.${TENANT}.ph-peer.cmd`;
  const ask = async (method, params) => {
    const m = await nc.request(PEER, sc.encode(JSON.stringify({ jsonrpc: "2.0", id: 1, method, params })), { timeout: 10000 });
    return JSON.parse(sc.decode(m.data)).result;
  };
  try {
    await waitFor(() => registrations.some((r) => r.params.device_id === "ph-peer"), 10000, "the peer to register");
    let r = await ask("install_plugin_from_url", { url: art.url, digest: "sha256:" + "1".repeat(64) });
    assert.deepEqual([r.status, r.error], ["error", "digest-mismatch"]);
    r = await ask("install_plugin_from_url", { url: art.url.replace(`//${TENANT}/`, "//other/") });
    assert.equal(r.error, "url-not-allowed");
    r = await ask("install_plugin_from_url", { url: art.url.replace("1.0.0.tgz", "9.9.9.tgz") });
    assert.equal(r.message, "download failed: artifact not found for probe");
    r = await ask("install_plugin_from_url", { url: art.url, digest: art.digest });
    assert.deepEqual([r.status, r.plugin_id, r.load_result.status], ["success", "probe", "success"]);
    assert.deepEqual(await ask("probe.probe", {}), { build: "B" });
  } finally {
    p.kill("SIGTERM");
    await new Promise((res) => p.on("exit", res));
  }
  assert.equal(p.exitCode, 0);
});

test("hostile publisher: a peer's read_plugin_artifact replies of the wrong type never crash the host", async () => {
  // issue 10 High 1: json-c reports a JSON null member as present; every
  // value of a peer's reply is type-checked.
  const evil = `device-connect.${TENANT}.evil.cmd`;
  const replies = [
    '{"jsonrpc":"2.0","id":"x","result":{"status":null}}',
    '{"jsonrpc":"2.0","id":"x","result":{"status":"success","data_b64":null}}',
    '{"jsonrpc":"2.0","id":"x","result":null}',
    '{"jsonrpc":"2.0","id":"x","error":{"message":null}}',
    '{"jsonrpc":"2.0","id":"x","error":null}',
    '{"jsonrpc":"2.0","id":"x","result":{"status":"success","data_b64":"QUJD","eof":"yes"}}',
    '{"jsonrpc":"2.0","id":"x","result":{"status":"success","data_b64":"QUJD","offset":5}}',
    '{"jsonrpc":"2.0","id":"x","result":{"status":"success","data_b64":"not base64!"}}',
    '{"jsonrpc":"2.0","id":"x","result":{"status":"success","data_b64":"","eof":null}}',
    '{"jsonrpc":"2.0","id":"x","result":[1,2]}',
    "not json at all",
    "null",
  ];
  let next = 0;
  const sub = nc.subscribe(evil, { callback: (err, m) => m.respond(sc.encode(replies[next])) });
  await nc.flush();
  try {
    for (next = 0; next < replies.length; next++) {
      const r = await result("install_plugin_from_url", { url: `dc-mesh://${TENANT}/evil/artifacts/x/1.0.tgz` });
      assert.deepEqual([r.status, r.error], ["error", "download-failed"], replies[next] + " -> " + JSON.stringify(r));
      assert.match(r.message, /^download failed: /);
      assert.equal((await result("get_status")).status, "success");
    }
    // the peer's own error text reaches the caller escaped, never raw
    replies.push('{"jsonrpc":"2.0","id":"x","result":{"status":"error","message":"\\u001b[31mred\\u0007"}}');
    next = replies.length - 1;
    const r = await result("install_plugin_from_url", { url: `dc-mesh://${TENANT}/evil/artifacts/x/1.0.tgz` });
    assert.equal(r.message, "download failed: \\x1b[31mred\\x07");
  } finally {
    sub.unsubscribe();
  }
  assert.equal(hostd.exitCode, null, "the daemon is still running");
});

test("dc-plugin-hostctl --mesh: the same commands on a remote host", async () => {
  const HOSTCTL = process.env.DC_HOSTCTL;
  const run = (...a) => {
    return spawnSync(HOSTCTL, ["--mesh", `--nats-url=nats://127.0.0.1:${natsPort}`, `--tenant=${TENANT}`, `--device=${DEVICE}`, ...a],
      { encoding: "utf8", timeout: 30000 });
  };
  let r = run("--json", "status");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).device_type, "plugin_host");
  r = run("invoke", "hello-world", "echo", '{"via":"hostctl"}');
  assert.deepEqual(JSON.parse(r.stdout), { via: "hostctl" });
  // a local folder is packed, digested and sent as install_plugin_from_bundle
  const src = fs.mkdtempSync(path.join(tmp, "ctl-"));
  fs.mkdirSync(path.join(src, "probe"));
  fs.copyFileSync(path.join(process.env.DC_TEST_PLUGINS_DIR, "probe-a.so"), path.join(src, "probe", "probe.so"));
  fs.writeFileSync(path.join(src, "probe", "manifest.json"), JSON.stringify({ id: "probe", version: "1.0.0", runtime: "c", api_level: 1 }));
  r = run("install", path.join(src, "probe"));
  assert.equal(r.status, 1); // installed already (version B)
  assert.match(r.stderr, /already exists/);
  r = run("--json", "install", "--replace", path.join(src, "probe"));
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(r.stdout).status, "success");
  assert.deepEqual(await result("probe.probe"), { build: "A" });
  r = run("--json", "show", "probe");
  assert.equal(JSON.parse(r.stdout).id, "probe");
  r = run("remove", "probe");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, "Removed plugin probe\n");
  r = run("rescan");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /not available over the mesh/);
  r = spawnSync(HOSTCTL, ["--mesh", `--nats-url=nats://127.0.0.1:${natsPort}`, `--tenant=${TENANT}`, "--device=nobody-here", "status"], { encoding: "utf8", timeout: 30000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is not on the mesh/);
});

// The template is a plugin: its files written where `layout` says, the sh
// block of its README run as is (its meson.build against the in-tree SDK, the
// folder assembled, checked under StrictELF=yes, packed), then installed,
// called and removed over the mesh.
test("get_plugin_template renders a plugin that builds, passes StrictELF, loads and answers", async () => {
  const id = "garage-door";
  const t = await result("get_plugin_template", { plugin_id: id, description: 'Opens "the" door \\ safely' });
  assert.equal(t.status, "success");
  assert.equal(t.capability_py, t.plugin_c); // upstream's key holds the C source
  const work = fs.mkdtempSync(path.join(tmp, "template-"));
  for (const [file, key] of Object.entries(t.layout)) {
    fs.mkdirSync(path.dirname(path.join(work, file)), { recursive: true });
    fs.writeFileSync(path.join(work, file), t[key]);
  }
  // what `pkg-config dc-plugin-host` finds once the SDK is installed, pointing at the source tree
  const pcDir = path.join(work, "pkgconfig");
  fs.mkdirSync(pcDir);
  fs.writeFileSync(path.join(pcDir, "dc-plugin-host.pc"), `includedir=${process.env.DC_SOURCE_ROOT}/include\n\n` +
    "Name: dc-plugin-host\nDescription: SDK for dc-plugin-host C plugins\nVersion: 0.1.0\nCflags: -I${includedir}\n");
  const conf = path.join(work, "strict.conf");
  fs.writeFileSync(conf, `StrictELF=yes\nSignaturesFile=${work}/none.json\nTrustedKeysDirectory=${work}/none.d\n`);
  const script = t.readme.match(/```sh\n([\s\S]*?)```/)[1];
  const built = spawnSync("bash", ["-euo", "pipefail", "-c", script], {
    cwd: path.join(work, id), encoding: "utf8", timeout: 120000,
    env: { ...process.env, PKG_CONFIG_PATH: pcDir, DC_PLUGIN_HOST_CONFIG: conf,
      PATH: `${path.dirname(process.env.DC_HOSTCTL)}:${process.env.PATH}` },
  });
  assert.equal(built.status, 0, built.stdout + built.stderr);
  assert.doesNotMatch(built.stdout + built.stderr, /warning:/);
  assert.match(built.stdout, new RegExp(`^${id}: ok$`, "m")); // dc-plugin-hostctl verify, StrictELF=yes
  assert.ok(script.includes(t.packaging.command), t.packaging.command);
  const tgz = fs.readFileSync(path.join(work, id, id + ".tgz"));
  const r = await result("install_plugin_from_bundle", { bundle_b64: tgz.toString("base64") });
  assert.equal(r.status, "success", JSON.stringify(r));
  assert.deepEqual(await result(`${id}.hello`), { message: `hello from ${id}` });
  assert.equal((await rpc(`${id}.hello`, { extra: 1 })).error.code, -32602); // params_schema = NULL: no params
  assert.equal((await result("list_plugins")).loaded[id].manifest.description, 'Opens "the" door \\ safely');
  assert.equal((await result("remove_plugin", { plugin_id: id })).status, "success");
  // text the descriptor would refuse is refused here, not by the loader later
  const bad = await result("get_plugin_template", { plugin_id: id, class_name: "two\nlines" });
  assert.deepEqual([bad.status, bad.error], ["error", "invalid-params"]);
});

// docs/plugin-development.md's plugin (built from the document by
// tests/plugins/meson.build): its event and the replies the document shows
// in its `<!-- mesh: METHOD -->` blocks.
test("the plugin of docs/plugin-development.md: mesh replies and events as documented", async () => {
  const doc = fs.readFileSync(path.join(process.env.DC_SOURCE_ROOT, "docs", "plugin-development.md"), "utf8");
  const replies = [...doc.matchAll(/^<!-- mesh: (\S+) -->\n```json\n([\s\S]*?)```$/gm)];
  assert.ok(replies.length > 0);
  const d = path.join(tmp, "plugins", "thermostat");
  fs.mkdirSync(d, { mode: 0o755 });
  fs.copyFileSync(path.join(process.env.DC_TEST_PLUGINS_DIR, "thermostat.so"), path.join(d, "thermostat.so"));
  fs.chmodSync(path.join(d, "thermostat.so"), 0o644);
  fs.writeFileSync(path.join(d, "manifest.json"), JSON.stringify({ id: "thermostat", version: "1.0.0", runtime: "c", api_level: 1 }));
  assert.equal((await result("load_plugin", { plugin_id: "thermostat" })).status, "success");
  const sub = nc.subscribe(`device-connect.${TENANT}.${DEVICE}.event.target_changed`, { max: 1 });
  await nc.flush();
  assert.deepEqual(await result("thermostat.set_target", { celsius: 21.5 }), { target: 21.5, changes: 1 });
  const ev = await Promise.race([(async () => { for await (const m of sub) return JSON.parse(sc.decode(m.data)); })(),
    new Promise((_, rej) => setTimeout(() => rej(new Error("no target_changed event")), 10000))]);
  assert.equal(ev.method, "target_changed");
  assert.deepEqual([ev.params.celsius, ev.params.previous], [21.5, 20]);
  assert.ok(ev.params.event_id && ev.params.ts && ev.params._trace_id, JSON.stringify(ev));
  for (const [, method, text] of replies) {
    const want = JSON.parse(text);
    assert.deepEqual(await rpc(method, {}, { id: want.id }), want);
  }
  assert.equal((await result("unload_plugin", { plugin_id: "thermostat" })).status, "success");
});

test("nats-server restart: reconnect, re-register, keep answering", async () => {
  const before = registrations.length;
  natsProc.kill("SIGKILL");
  await new Promise((r) => natsProc.on("exit", r));
  natsProc = await startNats(natsPort);
  await waitFor(() => registrations.length > before, 15000, "re-registration after reconnect");
  // both sides reconnect on their own schedule: the first answer may take a retry
  await rpcUntilAnswered(nc, CMD, "get_status", {}, { timeoutMs: 15000 });
  // from then on, every request is answered
  for (let i = 0; i < 10; i++) assert.equal((await result("get_status")).connected, true);
  assert.deepEqual(await result("echo", { i: 1 }), { i: 1 });
});
