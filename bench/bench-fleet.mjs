// SPDX-License-Identifier: MIT
// bench-fleet: 200 dc-plugin-hostd processes on one nats-server (and a D2D
// fleet for the presence traffic), driven by dc-plugin-hostctl --mesh and
// a fake registry (tests/mesh/fleet-lib.mjs).  Prints JSON lines:
//   registration  time until every daemon registered, RSS per daemon
//   hosts         `hostctl --mesh hosts --json` (registry, probe, get_status of each)
//   rollout       `rollout fleet --from=… --all` of a ~100 KB plugin, per --parallel,
//                 a fresh fleet each round; floor: the same bytes to the same
//                 number of receivers over the same server, raw nats.js
//   traffic       heartbeats (infra) and presence (D2D) per 1,000 hosts
// Usage (bench/run.sh sets the environment):
//   DC_HOSTD=… DC_HOSTCTL=… DC_TEST_PLUGINS_DIR=… DC_EXAMPLES_DIR=… node bench/bench-fleet.mjs WORKDIR [N] [ROUNDS]
import fs from "node:fs";
import path from "node:path";
import { FakeRegistry, connect, hostctl, sc, spawnFleet, stopFleet } from "../tests/mesh/fleet-lib.mjs";
import { startNats, waitFor } from "../tests/mesh/helpers.mjs";

const [work, nArg, roundsArg] = process.argv.slice(2);
const N = Number(nArg || 200), ROUNDS = Number(roundsArg || 3);
const TENANT = "lab";
fs.mkdirSync(work, { recursive: true, mode: 0o755 });
const median = (a) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
const out = (o) => console.log(JSON.stringify({ bench: "fleet", n: N, ...o }));
let seq = 0;

async function withFleet(lines, fn) {
  const dir = fs.mkdtempSync(path.join(work, "fleet-"));
  fs.chmodSync(dir, 0o755);
  const nats = await startNats();
  const url = `nats://127.0.0.1:${nats.port}`;
  const nc = await connect({ servers: url });
  const registry = new FakeRegistry(nc, TENANT);
  await nc.flush();
  const t0 = Date.now();
  const prefix = `f${seq++}-`;
  const fleet = spawnFleet(dir, N, { urls: () => [url], prefix, lines });
  try {
    return await fn({ url, nc, registry, fleet, prefix, t0 });
  } finally {
    const bad = await stopFleet(fleet);
    if (bad) console.error(`bench-fleet: ${bad} daemons did not stop cleanly`);
    registry.close();
    await nc.close();
    nats.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const ctl = (url, ...a) => hostctl(["--mesh", `--nats-url=${url}`, `--tenant=${TENANT}`, "--timeout=30", ...a]);

// The transport floor of a roll-out: the artifact's bytes, base64 in a
// JSON reply as read_plugin_artifact sends them, to N requesters, `parallel`
// at a time, from one nats.js responder on the same server.
async function transportFloor(url, bytes, parallel) {
  const server = await connect({ servers: url }), client = await connect({ servers: url });
  const reply = sc.encode(JSON.stringify({ jsonrpc: "2.0", id: 1, result: { status: "success", data_b64: Buffer.alloc(bytes, 7).toString("base64"), eof: true } }));
  server.subscribe("floor.artifact", { callback: (e, m) => m.respond(reply) });
  await server.flush();
  const t0 = process.hrtime.bigint();
  let next = 0;
  await Promise.all(Array.from({ length: parallel }, async () => {
    while (next++ < N) await client.request("floor.artifact", sc.encode("{}"), { timeout: 30000 });
  }));
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await server.close();
  await client.close();
  return ms;
}

// Registration, memory, hosts, heartbeat traffic: one fleet.
await withFleet([], async ({ url, nc, registry, fleet, prefix, t0 }) => {
  await waitFor(() => registry.registered(prefix) === N + 1, 120000, "registrations");
  const regMs = Date.now() - t0;
  const rss = fleet.map((p) => Number(fs.readFileSync(`/proc/${p.pid}/status`, "utf8").match(/VmRSS:\s+(\d+)/)[1]));
  const st = await nc.request(`device-connect.${TENANT}.${prefix}000.cmd`,
    sc.encode(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "get_status", params: {} })), { timeout: 5000 });
  out({ what: "registration", ms: regMs, registration_bytes_avg: Math.round(registry.registrationBytes / registry.registrations),
    registrations: registry.registrations, rss_kib_avg: Math.round(rss.reduce((a, b) => a + b) / rss.length),
    get_status_reply_bytes: st.data.length });
  const hosts = [];
  for (let i = 0; i < 5; i++) {
    const r = await ctl(url, "hosts", "--json");
    if (r.status !== 0 || JSON.parse(r.stdout).filter((h) => h.answered).length !== N + 1) throw new Error("hosts: " + r.stderr);
    hosts.push(r.ms);
  }
  out({ what: "hosts", hosts: N + 1, ms_median: Math.round(median(hosts)), ms_min: Math.round(Math.min(...hosts)),
    ms_max: Math.round(Math.max(...hosts)), goal_ms: 1000 });
  // idle traffic: every heartbeat of the fleet for 15 s (3 periods at ttl 15)
  let msgs = 0, payload = 0, subjects = 0;
  const sub = nc.subscribe(`device-connect.${TENANT}.*.heartbeat`, { callback: (e, m) => { msgs++; payload += m.data.length; subjects += m.subject.length; } });
  await nc.flush();
  const w0 = Date.now();
  await new Promise((r) => setTimeout(r, 15000)); // a measurement window, not a synchronisation
  const s = (Date.now() - w0) / 1000, per1000 = 1000 / (N + 1);
  sub.unsubscribe();
  out({ what: "traffic", kind: "heartbeat", seconds: s, msgs_per_s_per_1000: +(msgs / s * per1000).toFixed(1),
    payload_bytes_per_s_per_1000: Math.round(payload / s * per1000),
    wire_bytes_per_s_per_1000: Math.round((payload + subjects + 20 * msgs) / s * per1000), payload_bytes_avg: Math.round(payload / msgs) });
});

// Roll-outs: a fresh fleet per round (every target on 1.0.0).
for (const parallel of [16, 32, 64]) {
  const rounds = [], floors = [];
  let size = 0;
  for (let i = 0; i < ROUNDS; i++)
    await withFleet([], async ({ url, registry, prefix }) => {
      await waitFor(() => registry.registered(prefix) === N + 1, 120000, "registrations");
      const r = await ctl(url, "--json", "rollout", "fleet", `--from=${prefix}src`, "--all", `--parallel=${parallel}`);
      let sum = null;
      try { sum = JSON.parse(r.stdout); } catch { /* reported below */ }
      if (r.status !== 0 || !sum || sum.succeeded !== N)
        throw new Error(`rollout (exit ${r.status}): ${r.stderr.slice(-2000)}${r.stdout.slice(-2000)}`);
      rounds.push(r.ms);
      size = sum.size;
      floors.push(await transportFloor(url, size, parallel));
    });
  out({ what: "rollout", parallel, bytes: size, ms_median: Math.round(median(rounds)), ms_all: rounds.map(Math.round),
    floor_ms_median: Math.round(median(floors)), ratio: +(median(rounds) / median(floors)).toFixed(1), goal_ms: 5000 });
}

// D2D: presence, burst (the first 10 s) and steady (every 5 s).
await withFleet(["MeshDiscoveryMode=d2d"], async ({ nc, t0 }) => {
  const seen = [];
  nc.subscribe(`device-connect.${TENANT}.*.presence`, { callback: (e, m) => seen.push([Date.now(), m.data.length + m.subject.length]) });
  await nc.flush();
  await new Promise((r) => setTimeout(r, 36000)); // the burst and four steady periods
  const rate = (from, to) => {
    const w = seen.filter(([t]) => t >= t0 + from && t < t0 + to), s = (to - from) / 1000, per1000 = 1000 / (N + 1);
    return { msgs_per_s_per_1000: +(w.length / s * per1000).toFixed(1), bytes_per_s_per_1000: Math.round(w.reduce((a, [, b]) => a + b, 0) / s * per1000) };
  };
  // the daemons start within ~2.5 s: from 3 s to 9 s every one is in its burst, from 15 s none is
  out({ what: "traffic", kind: "presence-burst", window_s: "3-9", ...rate(3000, 9000) });
  out({ what: "traffic", kind: "presence-steady", window_s: "15-35", ...rate(15000, 35000),
    presence_bytes_avg: Math.round(seen.slice(-N).reduce((a, [, b]) => a + b, 0) / Math.min(N, seen.length)) });
});
