// SPDX-License-Identifier: MIT
// Pieces of the fleet tests and bench/bench-fleet.mjs: daemons in scratch
// directories below /run (never /tmp: the loader refuses sticky
// world-writable ancestors), plugin folders and archives, and a fake
// Device Connect registry that behaves like the upstream registry service
// (registerDevice, discovery/listDevices with paging, heartbeats).
import { spawn, execFileSync } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { StringCodec } from "nats";

export { connect } from "nats";

export const sc = StringCodec();
export const HOSTD = process.env.DC_HOSTD;
export const HOSTCTL = process.env.DC_HOSTCTL;
export const PLUGINS = process.env.DC_TEST_PLUGINS_DIR;
export const EXAMPLES = process.env.DC_EXAMPLES_DIR;

export function scratch(prefix) {
  const base = "/run/dc-plugin-host-tests";
  fs.mkdirSync(base, { recursive: true, mode: 0o755 });
  const d = fs.mkdtempSync(path.join(base, prefix));
  fs.chmodSync(d, 0o755);
  return d;
}

// The 100 KiB run of 'Z' in the fleet-* test plugins, replaced by random
// bytes: an incompressible plugin of about 100 KB, different every time.
export function bulkify(so) {
  const marker = Buffer.alloc(100 * 1024, "Z");
  const at = so.indexOf(marker);
  if (at < 0) return so;
  const out = Buffer.from(so);
  crypto.randomFillSync(out, at, marker.length);
  return out;
}

// <root>/<id>/{<id>.so, manifest.json}
export function pluginFolder(root, id, soPath, { version = "1.0.0", so = null } = {}) {
  const d = path.join(root, id);
  fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  fs.writeFileSync(path.join(d, id + ".so"), so ?? fs.readFileSync(soPath), { mode: 0o644 });
  fs.writeFileSync(path.join(d, "manifest.json"), JSON.stringify({ id, version, runtime: "c", api_level: 1 }), { mode: 0o644 });
  return d;
}

export function examplePlugin(root, name) {
  const d = path.join(root, name);
  fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  for (const f of [name + ".so", "manifest.json"]) {
    fs.copyFileSync(path.join(EXAMPLES, name, f), path.join(d, f));
    fs.chmodSync(path.join(d, f), 0o644);
  }
}

// A gzip tar of <dir>/<id> as the archive's single top-level folder.
export function packFolder(folder) {
  return execFileSync("tar", ["-czf", "-", "-C", path.dirname(folder), path.basename(folder)]);
}

export const sha256 = (buf) => "sha256:" + crypto.createHash("sha256").update(buf).digest("hex");

// One daemon without D-Bus: dir/{plugins,state,hostd.conf,hostd.log}.
export function startDaemon(dir, lines, env = {}) {
  fs.mkdirSync(path.join(dir, "plugins"), { recursive: true, mode: 0o755 });
  fs.mkdirSync(path.join(dir, "state"), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(dir, "hostd.conf"), [
    `PluginDirectories=${dir}/plugins`, `StateDirectory=${dir}/state`, `SignaturesFile=${dir}/none.json`,
    `TrustedKeysDirectory=${dir}/none.d`, `PluginConfigDirectory=${dir}/none`, "AllowUnverifiedMeshInstalls=yes",
    ...lines, ""].join("\n"));
  const log = fs.openSync(path.join(dir, "hostd.log"), "a");
  const p = spawn(HOSTD, ["--config", path.join(dir, "hostd.conf"), "--no-bus", "--log-target=console"], {
    stdio: ["ignore", log, log],
    env: { ...process.env, DEVICE_CONNECT_REGISTER_JITTER: "0", DEVICE_CONNECT_REGISTER_TIMEOUT: "2", ...env },
  });
  fs.closeSync(log);
  p.dir = dir;
  p.exited = new Promise((r) => p.on("exit", () => r(p.signalCode ?? p.exitCode)));
  return p;
}

// SIGTERM, bounded: a daemon that does not stop is killed and reported.
export async function stopDaemon(p, ms = 15000) {
  if (p.exitCode === null && p.signalCode === null) {
    p.kill("SIGTERM");
    const timer = setTimeout(() => p.kill("SIGKILL"), ms);
    await p.exited;
    clearTimeout(timer);
  }
  const rc = p.signalCode ?? p.exitCode;
  if (rc !== 0) console.error(`daemon in ${p.dir} exited with ${rc}:\n` + fs.readFileSync(path.join(p.dir, "hostd.log"), "utf8").slice(-3000));
  return rc;
}

// The upstream registry service's behaviour on the wire: registerDevice
// stores the params with a registration id and answers with a UUID;
// discovery/listDevices answers {"devices"} (with "limit": a page and
// "next_offset", "total_matched"); a heartbeat refreshes last_seen and
// merges its extras into the device's status.
export class FakeRegistry {
  constructor(nc, tenant) {
    this.nc = nc;
    this.tenant = tenant;
    this.devices = new Map();
    this.registrations = 0;
    this.heartbeats = 0;
    this.subs = [
      nc.subscribe(`device-connect.${tenant}.registry`, { queue: "registry", callback: (e, m) => this.register(m) }),
      nc.subscribe(`device-connect.${tenant}.discovery`, { queue: "orch", callback: (e, m) => this.list(m) }),
      nc.subscribe(`device-connect.${tenant}.*.heartbeat`, { callback: (e, m) => this.heartbeat(m) }),
    ];
  }

  register(m) {
    this.registrationBytes = (this.registrationBytes ?? 0) + m.data.length;
    const req = JSON.parse(sc.decode(m.data));
    const p = req.params;
    this.registrations++;
    this.devices.set(p.device_id, { ...p, registry: { device_registration_id: crypto.randomUUID(),
      registered_at: new Date().toISOString().replace(/\.\d+Z$/, "Z") }, last_seen: Date.now() / 1000 });
    m.respond(sc.encode(JSON.stringify({ jsonrpc: "2.0", id: req.id,
      result: { status: "registered", device_registration_id: this.devices.get(p.device_id).registry.device_registration_id } })));
  }

  list(m) {
    const req = JSON.parse(sc.decode(m.data));
    if (req.method !== "discovery/listDevices") return;
    const p = req.params ?? {};
    let devs = [...this.devices.values()];
    if (p.device_type) devs = devs.filter((d) => d.identity?.device_type === p.device_type);
    let result = { devices: devs };
    if (p.limit !== undefined) {
      const offset = p.offset ?? 0, limit = Math.min(p.limit, 200);
      result = { devices: devs.slice(offset, offset + limit), total_matched: devs.length,
        next_offset: offset + limit < devs.length ? offset + limit : null };
    }
    m.respond(sc.encode(JSON.stringify({ jsonrpc: "2.0", id: req.id, result })));
  }

  heartbeat(m) {
    const hb = JSON.parse(sc.decode(m.data));
    this.heartbeats++;
    const d = this.devices.get(hb.device_id);
    if (!d) return;
    const { device_id, ...extras } = hb;
    d.last_seen = Date.now() / 1000;
    Object.assign(d.status, extras);
  }

  registered(prefix = "") {
    return [...this.devices.keys()].filter((id) => id.startsWith(prefix)).length;
  }

  close() {
    for (const s of this.subs) s.unsubscribe();
  }
}

// A JSON-RPC request as the upstream SDK's _RemoteInvoker sends it: a
// "d2d-<12 hex>" id and the caller's _dc_meta in the params.
export async function upstreamCall(nc, subject, method, params = {}, timeout = 10000) {
  const id = "d2d-" + crypto.randomBytes(6).toString("hex");
  const body = { jsonrpc: "2.0", id, method,
    params: { ...params, _dc_meta: { source_device: "fleet-test", source_type: "device", trace_id: crypto.randomBytes(8).toString("hex") } } };
  const m = await nc.request(subject, sc.encode(JSON.stringify(body)), { timeout });
  const reply = JSON.parse(sc.decode(m.data));
  if (reply.id !== id) throw new Error(`reply id ${reply.id} for ${id}`);
  return reply;
}

// dc-plugin-hostctl, asynchronously (a fake registry in this process must
// keep answering while it runs): {status, stdout, stderr, ms}.
export function hostctl(args, { env = {}, timeoutMs = 120000, onStderr = null } = {}) {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const p = spawn(HOSTCTL, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "", stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => {
      stderr += d;
      if (onStderr) onStderr(stderr);
    });
    const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
    p.on("close", (status, signal) => {
      clearTimeout(timer);
      resolve({ status: signal ? signal : status, stdout, stderr, ms: Number(process.hrtime.bigint() - t0) / 1e6 });
    });
  });
}

// A fleet of n daemons (one process each), "<prefix>000"…: hello-world in
// a shared read-only root and fleet 1.0.0 (about 100 KB) in each store,
// plus "<prefix>src" with fleet 2.0.0 loaded: what `rollout fleet
// --from=<prefix>src --all` moves to 2.0.0.  urls(i) lists the servers of
// daemon i (i = -1: the source).
export function spawnFleet(dir, n, { urls, tenant = "lab", prefix = "fleet-", lines = [] }) {
  const ro = path.join(dir, "ro");
  if (!fs.existsSync(ro)) examplePlugin(ro, "hello-world");
  const v1 = fs.readFileSync(path.join(PLUGINS, "fleet-1.so")), v2 = fs.readFileSync(path.join(PLUGINS, "fleet-2.so"));
  const spawnOne = (name, version, so, serverList) => {
    const d = path.join(dir, name);
    fs.mkdirSync(path.join(d, "state", "plugins"), { recursive: true, mode: 0o755 });
    fs.chmodSync(path.join(d, "state"), 0o700);
    pluginFolder(path.join(d, "state", "plugins"), "fleet", null, { version, so: bulkify(so) });
    return startDaemon(d, [`MeshURLs=${serverList.join(",")}`, `Tenant=${tenant}`, `DeviceId=${name}`, `PluginDirectories=${ro}`,
      "Workers=1", ...lines]);
  };
  const daemons = [spawnOne(prefix + "src", "2.0.0", v2, urls(-1))];
  for (let i = 0; i < n; i++) daemons.push(spawnOne(prefix + String(i).padStart(3, "0"), "1.0.0", v1, urls(i)));
  return daemons;
}

export async function stopFleet(daemons) {
  const rcs = await Promise.all(daemons.map((p) => stopDaemon(p)));
  return rcs.filter((rc) => rc !== 0).length;
}

// get_status of every device at once: the replies, in order.
export function statusOfAll(nc, tenant, ids, timeout = 10000) {
  return Promise.all(ids.map((id) => nc.request(`device-connect.${tenant}.${id}.cmd`,
    sc.encode(JSON.stringify({ jsonrpc: "2.0", id: "s-" + id, method: "get_status", params: {} })), { timeout })
    .then((m) => JSON.parse(sc.decode(m.data)).result, (e) => ({ error: String(e) }))));
}

// waitFor() for a condition that needs a round trip: awaited, then again
// (each try is itself bounded), until it holds or timeoutMs passed.
export async function waitForAsync(cond, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error("timed out waiting for " + what);
    await new Promise((r) => setTimeout(r, 50));
  }
}
