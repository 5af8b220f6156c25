// SPDX-License-Identifier: MIT
// Wire behaviour the upstream clients rely on (issue 13): installs that do
// not load keep the running code, plugin_loaded/plugin_unloaded on every
// load and unload, the authoring guide's lists, manifest installs with
// replace and type "c", host RPCs that slow plugin calls cannot lock out,
// remove_plugin, and the admin subject.  Requests are sent as the upstream
// SDK sends them ("d2d-…" ids, _dc_meta) to a real daemon on a real
// nats-server, with a fake registry.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect } from "nats";
import { startNats, waitFor } from "./helpers.mjs";
import { FakeRegistry, PLUGINS, examplePlugin, packFolder, pluginFolder, scratch, sc, sha256, startDaemon, stopDaemon,
  upstreamCall, waitForAsync } from "./fleet-lib.mjs";

const TENANT = "lab", DEVICE = "wire-host";
const CMD = `device-connect.${TENANT}.${DEVICE}.cmd`;
let tmp, nats, nc, registry, hostd, store;
const events = [];

before(async () => {
  tmp = scratch("wire-");
  nats = await startNats();
  nc = await connect({ servers: `127.0.0.1:${nats.port}` });
  registry = new FakeRegistry(nc, TENANT);
  nc.subscribe(`device-connect.${TENANT}.${DEVICE}.event.>`, {
    callback: (e, m) => events.push({ name: m.subject.split(".").pop(), params: JSON.parse(sc.decode(m.data)).params }),
  });
  await nc.flush();
  const dir = path.join(tmp, "host");
  fs.mkdirSync(path.join(dir, "plugins"), { recursive: true, mode: 0o755 });
  for (const name of ["hello-world", "sensor"]) examplePlugin(path.join(dir, "plugins"), name);
  store = path.join(dir, "state", "plugins");
  hostd = startDaemon(dir, [`MeshURLs=nats://127.0.0.1:${nats.port}`, `Tenant=${TENANT}`, `DeviceId=${DEVICE}`,
    // MaxCallsPerPlugin= (64 by default) would refuse sensor.slow before the
    // mesh's in-flight reserve is reached: the reserve test needs 224
    "Workers=4", "CallTimeoutSec=2", "MaxCallsPerPlugin=300"]);
  await waitFor(() => registry.devices.has(DEVICE), 10000, "the host to register");
});

after(async () => {
  if (hostd) await stopDaemon(hostd);
  await nc.close();
  nats.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function call(method, params = {}, subject = CMD) {
  const r = await upstreamCall(nc, subject, method, params);
  assert.ok("result" in r, JSON.stringify(r));
  return r.result;
}

// The plugin_loaded/plugin_unloaded events of id that fn caused.  The
// daemon publishes an event before the reply that follows it, on the same
// connection: once the reply is here, so are the events.
async function lifecycleEvents(id, fn) {
  const from = events.length;
  const result = await fn();
  const seen = events.slice(from).filter((e) => e.params.plugin_id === id && e.name.startsWith("plugin_"));
  return [seen.map((e) => e.name.replace("plugin_", "")), result, seen];
}

function probeArchive(variant) {
  const dir = scratch("src-");
  const bytes = packFolder(pluginFolder(dir, "probe", path.join(PLUGINS, variant + ".so")));
  fs.rmSync(dir, { recursive: true, force: true });
  return { bundle_b64: bytes.toString("base64"), digest: sha256(bytes) };
}

test("install with replace and load:false keeps the running code until reload_plugin; the reply says what runs", async () => {
  const a = probeArchive("probe-a"), b = probeArchive("probe-b");
  let [ev, r] = await lifecycleEvents("probe", () => call("install_plugin_from_bundle", { ...a, plugin_id: "probe" }));
  assert.deepEqual([r.status, r.load_result.status, ev], ["success", "success", ["loaded"]]);
  assert.deepEqual(await call("probe.probe"), { build: "A" });

  [ev, r] = await lifecycleEvents("probe", () => call("install_plugin_from_bundle", { ...b, replace: true, load: false }));
  assert.deepEqual(r, { status: "success", plugin_id: "probe", installed_to: path.join(store, "probe"), loaded: true,
    reload_required: true });
  assert.deepEqual(ev, [], "nothing was loaded or unloaded");
  assert.deepEqual(await call("probe.probe"), { build: "A" }, "the old code runs until reload_plugin");
  assert.ok((await call("get_status")).loaded_plugins.includes("probe"));

  [ev, r] = await lifecycleEvents("probe", () => call("reload_plugin", { plugin_id: "probe" }));
  assert.deepEqual([r.status, ev], ["success", ["unloaded", "loaded"]]);
  assert.deepEqual(await call("probe.probe"), { build: "B" });

  r = await call("install_plugin_from_bundle", { ...b, replace: true, load: false });
  assert.deepEqual([r.loaded, r.reload_required], [true, false], "the same bytes run already");
  await call("unload_plugin", { plugin_id: "probe" });
  [ev, r] = await lifecycleEvents("probe", () => call("install_plugin_from_bundle", { ...a, replace: true, load: false }));
  assert.deepEqual([r.loaded, "reload_required" in r, ev], [false, false, []]);
});

test("plugin_loaded and plugin_unloaded follow every load and unload, as upstream", async () => {
  const a = probeArchive("probe-a"), b = probeArchive("probe-b");
  let [ev, r, seen] = await lifecycleEvents("probe", () => call("load_plugin", { plugin_id: "probe" }));
  assert.deepEqual([r.status, ev], ["success", ["loaded"]]);
  assert.deepEqual(seen[0].params.functions, r.plugin.functions);
  // upstream reload_plugin = unload + load, whether the bytes changed or not
  [ev] = await lifecycleEvents("probe", () => call("reload_plugin", { plugin_id: "probe" }));
  assert.deepEqual(ev, ["unloaded", "loaded"], "reload of unchanged bytes");
  // upstream load_plugin of a loaded plugin loads it again
  [ev, r] = await lifecycleEvents("probe", () => call("load_plugin", { plugin_id: "probe" }));
  assert.deepEqual([r.status, ev], ["success", ["loaded"]], "load of a loaded plugin");
  // an install that brings the bytes already running: a load, nothing unloaded
  [ev, r] = await lifecycleEvents("probe", () => call("install_plugin_from_bundle", { ...a, replace: true }));
  assert.deepEqual([r.status, ev], ["success", ["loaded"]], "replace with identical bytes");
  // new bytes: the old generation is unloaded, the new one loaded
  [ev, r] = await lifecycleEvents("probe", () => call("install_plugin_from_bundle", { ...b, replace: true }));
  assert.deepEqual([r.status, ev], ["success", ["unloaded", "loaded"]], "replace with changed bytes");
  assert.deepEqual(await call("probe.probe"), { build: "B" });
  [ev] = await lifecycleEvents("probe", () => call("reload_plugin", { plugin_id: "probe" }));
  assert.deepEqual(ev, ["unloaded", "loaded"], "reload after a replacement");
  [ev, r] = await lifecycleEvents("probe", () => call("unload_plugin", { plugin_id: "probe" }));
  assert.deepEqual([r.status, ev], ["success", ["unloaded"]]);
  // the bare name of a reloaded plugin stays with it
  [ev] = await lifecycleEvents("hello-world", () => call("reload_plugin", { plugin_id: "hello-world" }));
  assert.deepEqual(ev, ["unloaded", "loaded"]);
  assert.deepEqual(await call("echo", { x: 1 }), { x: 1 });
});

test("get_plugin_authoring_guide: capability_conventions.decorators and lifecycle are lists", async () => {
  const g = await call("get_plugin_authoring_guide");
  const cc = g.capability_conventions;
  assert.ok(Array.isArray(cc.decorators) && cc.decorators.length === 3 && cc.decorators.every((s) => typeof s === "string"));
  assert.ok(Array.isArray(cc.lifecycle) && cc.lifecycle.length === 2 && cc.lifecycle.every((s) => typeof s === "string"));
  assert.equal(typeof cc.constructor, "string");
  assert.equal(typeof cc.naming, "string");
});

test("install_plugin_from_manifest: type \"c\" and a replace path (the redeploy loop)", async () => {
  const a = probeArchive("probe-a"), b = probeArchive("probe-b");
  const manifest = { type: "c", id: "probe", bundle_b64: a.bundle_b64, digest: a.digest };
  let r = await call("install_plugin_from_manifest", { manifest });
  assert.deepEqual([r.status, r.error], ["error", "already-exists"], "probe is installed from the tests above");
  r = await call("install_plugin_from_manifest", { manifest, replace: true });
  assert.deepEqual([r.status, r.load_result.status], ["success", "success"]);
  assert.deepEqual(await call("probe.probe"), { build: "A" });
  // a stored manifest that says so itself, deployed again and again
  for (const [archive, build] of [[b, "B"], [a, "A"], [a, "A"]]) {
    r = await call("install_plugin_from_manifest", { manifest: { type: "c", id: "probe", replace: true, ...archive } });
    assert.equal(r.status, "success", JSON.stringify(r));
    assert.deepEqual(await call("probe.probe"), { build });
  }
  r = await call("install_plugin_from_manifest", { manifest: { type: "c", id: "probe" } });
  assert.equal(r.message, "c manifest requires bundle_b64 or url");
  r = await call("install_plugin_from_manifest", { manifest: { type: "c", replace: "yes", ...a } });
  assert.equal(r.error, "manifest-invalid");
  r = await call("install_plugin_from_manifest", { manifest: { type: "wasm" } });
  assert.equal(r.message, "unsupported manifest type: wasm");
});

test("remove_plugin: advertised, unloads and deletes from the store, refuses packaged plugins", async () => {
  const reg = registry.devices.get(DEVICE);
  const fn = reg.capabilities.functions.find((f) => f.name === "remove_plugin");
  assert.deepEqual(fn.parameters.required, ["plugin_id"]);
  assert.ok(fs.existsSync(path.join(store, "probe")));
  const [ev, r] = await lifecycleEvents("probe", () => call("remove_plugin", { plugin_id: "probe" }));
  assert.deepEqual(r, { status: "success", plugin_id: "probe", removed: true });
  assert.deepEqual(ev, ["unloaded"]);
  assert.ok(!fs.existsSync(path.join(store, "probe")));
  assert.ok(!(await call("list_plugins")).available.some((e) => e.id === "probe"));
  let e = await call("remove_plugin", { plugin_id: "probe" });
  assert.deepEqual([e.status, e.error, e.message], ["error", "not-found", "Plugin 'probe' is not installed"]);
  e = await call("remove_plugin", { plugin_id: "sensor" });
  assert.deepEqual([e.status, e.error], ["error", "read-only"]);
  assert.ok((await call("get_status")).loaded_plugins.includes("sensor"));
  e = await call("remove_plugin", { plugin_id: "../x" });
  assert.equal(e.error, "invalid-id");
});

test("host RPCs keep a reserve: 300 slow plugin calls never lock out get_status and unload_plugin", async () => {
  // MeshMaxInFlight=256 keeps 32 slots for host RPCs: 224 calls are taken
  const calls = [];
  let busy = 0;
  for (let i = 0; i < 300; i++)
    calls.push(upstreamCall(nc, CMD, "sensor.slow", { ms: 1500 }, 20000).then((r) => {
      if (r.error?.message?.includes("busy")) busy++;
      return r;
    }));
  await waitFor(() => busy >= 76, 10000, "the calls beyond the plugin calls' share to be refused");
  const t0 = Date.now();
  const st = await call("get_status");
  assert.equal(st.status, "success");
  const un = await call("unload_plugin", { plugin_id: "hello-world" });
  assert.deepEqual(un, { status: "success", plugin_id: "hello-world" });
  assert.equal((await call("load_plugin", { plugin_id: "hello-world" })).status, "success");
  console.log(`# host RPCs answered in ${Date.now() - t0} ms with 224 plugin calls in flight`);
  // unloading the busy plugin itself is answered once its calls drained
  const unSensor = call("unload_plugin", { plugin_id: "sensor" });
  const replies = await Promise.all(calls);
  assert.equal(busy, 76);
  const ok = replies.filter((r) => "result" in r).length;
  const timedOut = replies.filter((r) => r.error?.message?.includes("timed out")).length;
  assert.equal(ok + timedOut + busy, 300, JSON.stringify(replies.find((r) => !("result" in r) && !r.error.message.includes("busy") && !r.error.message.includes("timed out"))));
  assert.ok(ok >= 4, `${ok} calls ran`);
  assert.deepEqual(await unSensor, { status: "success", plugin_id: "sensor" });
  assert.equal((await call("load_plugin", { plugin_id: "sensor" })).status, "success");
});

test("admin RPCs on …<device>.admin; MeshAdminRPCsOnCmd=no (a configuration reload) refuses them on cmd", async () => {
  const dir = path.join(tmp, "strict");
  examplePlugin(path.join(dir, "plugins"), "hello-world");
  const lines = [`MeshURLs=nats://127.0.0.1:${nats.port}`, `Tenant=${TENANT}`, "DeviceId=strict-host"];
  const p = startDaemon(dir, lines);
  try {
    await waitFor(() => registry.devices.has("strict-host"), 10000, "the strict host to register");
    const cmd = "device-connect.lab.strict-host.cmd", admin = "device-connect.lab.strict-host.admin";
    const a = probeArchive("probe-a");
    // the default, as upstream: installs on cmd
    let r = (await upstreamCall(nc, cmd, "install_plugin_from_bundle", a)).result;
    assert.equal(r.status, "success");
    assert.equal((await upstreamCall(nc, cmd, "remove_plugin", { plugin_id: "probe" })).result.status, "success");
    // MeshAdminRPCsOnCmd=no takes effect at a configuration reload (SIGHUP)
    const conf = fs.readFileSync(path.join(dir, "hostd.conf"), "utf8");
    fs.writeFileSync(path.join(dir, "hostd.conf"), conf + "MeshAdminRPCsOnCmd=no\n");
    p.kill("SIGHUP");
    await waitForAsync(async () => (await upstreamCall(nc, cmd, "load_plugin", { plugin_id: "hello-world" })).result.error === "admin-only",
      10000, "the reloaded setting");
    r = (await upstreamCall(nc, cmd, "install_plugin_from_bundle", a)).result;
    assert.deepEqual([r.status, r.error], ["error", "admin-only"]);
    assert.equal(r.message, `install_plugin_from_bundle is served on ${admin} only (MeshAdminRPCsOnCmd=no)`);
    assert.ok(!fs.existsSync(path.join(dir, "state", "plugins", "probe")));
    for (const [m, params] of [["load_plugin", { plugin_id: "hello-world" }], ["unload_plugin", { plugin_id: "hello-world" }],
      ["reload_plugin", { plugin_id: "hello-world" }], ["remove_plugin", { plugin_id: "hello-world" }],
      ["publish_plugin_artifact", { plugin_id: "hello-world" }], ["install_plugin_from_url", { url: "dc-mesh://lab/x/artifacts/a/1.tgz" }]])
      assert.equal((await upstreamCall(nc, cmd, m, params)).result.error, "admin-only", m);
    // reads and plugin calls stay on cmd
    assert.equal((await upstreamCall(nc, cmd, "get_status")).result.status, "success");
    assert.equal((await upstreamCall(nc, cmd, "list_plugin_artifacts")).result.status, "success");
    r = await upstreamCall(nc, cmd, "hello_world", { name: "cmd" });
    assert.deepEqual(r.result, { message: "Hello, cmd!" });
    // the admin subject serves them all
    r = (await upstreamCall(nc, admin, "install_plugin_from_bundle", a)).result;
    assert.deepEqual([r.status, r.load_result.status], ["success", "success"]);
    assert.equal((await upstreamCall(nc, admin, "get_status")).result.loaded_plugins.length, 2);
    assert.deepEqual((await upstreamCall(nc, admin, "probe.probe")).result, { build: "A" });
    r = (await upstreamCall(nc, admin, "remove_plugin", { plugin_id: "probe" })).result;
    assert.equal(r.status, "success");
  } finally {
    assert.equal(await stopDaemon(p), 0);
  }
});

test("shutdown: plugin_unloaded once for every loaded plugin", async () => {
  const loaded = (await call("get_status")).loaded_plugins;
  assert.ok(loaded.length >= 2);
  const from = events.length;
  assert.equal(await stopDaemon(hostd), 0);
  hostd = null;
  await waitFor(() => events.slice(from).filter((e) => e.name === "plugin_unloaded").length >= loaded.length, 5000,
    "plugin_unloaded for every plugin");
  const un = events.slice(from).filter((e) => e.name === "plugin_unloaded").map((e) => e.params.plugin_id);
  assert.deepEqual(un.sort(), [...loaded].sort());
});
