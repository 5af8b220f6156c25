// SPDX-License-Identifier: MIT
// 200 daemons, one process each, on this machine: they all register with
// a fake registry and answer get_status; `hostctl --mesh hosts` lists them
// all; `rollout --all` moves a plugin of about 100 KB from 1.0.0 to 2.0.0
// on every one.  Then the same roll-out on a 3-node nats-server cluster
// (routes on loopback) with one node killed in the middle: every host ends
// with the new version or is reported as failed, and none is half-installed
// (what runs is what is on disk).  Timings are printed, not asserted: the
// goals are measured by bench/bench-fleet.mjs (docs/performance.md).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { connect } from "nats";
import { startNats, waitFor } from "./helpers.mjs";
import { FakeRegistry, hostctl, scratch, spawnFleet, statusOfAll, stopFleet, upstreamCall, waitForAsync } from "./fleet-lib.mjs";

const N = Number(process.env.DC_FLEET_SIZE || 200);
const TENANT = "lab";
const tmp = scratch("fleet200-");
const cleanup = [];
after(async () => {
  for (const f of cleanup.reverse()) await f();
  fs.rmSync(tmp, { recursive: true, force: true });
});

const ids = (prefix) => Array.from({ length: N }, (_, i) => prefix + String(i).padStart(3, "0"));

// What runs is what is on disk: the loaded plugin's digest is the digest of
// <store>/fleet/fleet.so and its version the manifest's.
function consistent(dir, entry) {
  const folder = path.join(dir, "state", "plugins", "fleet");
  const so = "sha256:" + crypto.createHash("sha256").update(fs.readFileSync(path.join(folder, "fleet.so"))).digest("hex");
  const manifest = JSON.parse(fs.readFileSync(path.join(folder, "manifest.json"), "utf8"));
  return entry.state === "loaded" && entry.digest === so && entry.version === manifest.version;
}

async function fleetEntries(nc, devices) {
  return Promise.all(devices.map(async (d) => {
    const r = await upstreamCall(nc, `device-connect.${TENANT}.${d}.cmd`, "list_plugins", {}, 20000);
    return r.result.available.find((e) => e.id === "fleet");
  }));
}

test(`${N} daemons: all register and answer, hosts lists them, rollout --all reaches every one`, async () => {
  const nats = await startNats();
  const url = `nats://127.0.0.1:${nats.port}`;
  const nc = await connect({ servers: url });
  const registry = new FakeRegistry(nc, TENANT);
  await nc.flush();
  const dir = path.join(tmp, "single");
  const t0 = Date.now();
  const fleet = spawnFleet(dir, N, { urls: () => [url] });
  cleanup.push(async () => {
    assert.equal(await stopFleet(fleet), 0, "every daemon stops cleanly");
    registry.close();
    await nc.close();
    nats.kill();
  });
  await waitFor(() => registry.registered("fleet-") === N + 1, 60000, `${N + 1} registrations`);
  console.log(`# ${N + 1} daemons registered in ${Date.now() - t0} ms`);

  const status = await statusOfAll(nc, TENANT, ["fleet-src", ...ids("fleet-")]);
  assert.equal(status.filter((s) => s.status === "success" && s.loaded_plugins.includes("fleet")).length, N + 1,
    JSON.stringify(status.find((s) => s.status !== "success")));

  const ctl = (...a) => hostctl(["--mesh", `--nats-url=${url}`, `--tenant=${TENANT}`, "--timeout=20", ...a]);
  let r = await ctl("hosts", "--json");
  assert.equal(r.status, 0, r.stderr);
  const listed = JSON.parse(r.stdout);
  assert.deepEqual(listed.map((h) => h.device_id), ["fleet-src", ...ids("fleet-")].sort());
  assert.ok(listed.every((h) => h.answered && h.loaded_count === 2), JSON.stringify(listed.find((h) => !h.answered)));
  console.log(`# hosts listed ${listed.length} hosts in ${r.ms.toFixed(0)} ms`);

  r = await ctl("--json", "rollout", "fleet", "--from=fleet-src", "--all", "--parallel=32");
  assert.equal(r.status, 0, r.stderr.slice(-3000));
  const sum = JSON.parse(r.stdout);
  assert.deepEqual([sum.succeeded, sum.failed, sum.skipped, sum.version], [N, 0, 0, "2.0.0"]);
  assert.ok(sum.size > 100 * 1024, `artifact of ${sum.size} bytes`);
  console.log(`# rollout --all of ${sum.size} bytes to ${N} hosts in ${r.ms.toFixed(0)} ms (hostctl: ${sum.seconds.toFixed(2)} s)`);

  const entries = await fleetEntries(nc, ids("fleet-"));
  const bad = entries.map((e, i) => [i, e]).filter(([i, e]) => e.version !== "2.0.0" || !consistent(path.join(dir, ids("fleet-")[i]), e));
  assert.deepEqual(bad, []);
  // the heartbeats of the whole fleet reach the registry
  await waitFor(() => registry.heartbeats >= N, 10000, "a heartbeat from every host");
});

// Three free TCP ports for the routes.
async function freePorts(n) {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise((res) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => res(s));
  })));
  const ports = servers.map((s) => s.address().port);
  await Promise.all(servers.map((s) => new Promise((res) => s.close(res))));
  return ports;
}

test(`the same roll-out on a 3-node cluster with one node killed in the middle`, async () => {
  const routes = await freePorts(3);
  const nodes = [];
  for (let i = 0; i < 3; i++)
    nodes.push(await startNats({ confPath: path.join(tmp, `node-${i}.conf`), conf: `port: -1\nhost: 127.0.0.1\n` +
      `cluster { name: fleet\n listen: 127.0.0.1:${routes[i]}\n routes: [${routes.filter((_, j) => j !== i).map((p) => `nats://127.0.0.1:${p}`).join(", ")}] }\n` }));
  const urls = nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  // the registry and the test on node 0, hostctl on node 1, the source on
  // nodes 0 and 1; the targets spread over the three (their own node first)
  const nc = await connect({ servers: urls[0] });
  const other = await connect({ servers: urls[2] });
  const registry = new FakeRegistry(nc, TENANT);
  let fleet = [];
  cleanup.push(async () => {
    assert.equal(await stopFleet(fleet), 0, "every daemon stops cleanly");
    registry.close();
    await nc.close();
    await other.close();
    for (const n of nodes) n.kill();
  });
  // the cluster is one: a subscription on node 0 hears node 2
  let heard = 0;
  nc.subscribe("cluster.ready", { callback: () => heard++ });
  await nc.flush();
  await waitForAsync(async () => { other.publish("cluster.ready"); await other.flush(); return heard > 0; }, 10000, "the routes");
  const dir = path.join(tmp, "cluster");
  fleet = spawnFleet(dir, N, { urls: (i) => (i < 0 ? [urls[0], urls[1]] : [urls[i % 3], urls[(i + 1) % 3], urls[(i + 2) % 3]]),
    prefix: "node-" });
  await waitFor(() => registry.registered("node-") === N + 1, 60000, `${N + 1} registrations`);

  let killedAt = null;
  const r = await hostctl(["--mesh", `--nats-url=${urls[1]},${urls[0]}`, `--tenant=${TENANT}`, "--timeout=5", "--json", "rollout",
    "fleet", "--from=node-src", `--to=${ids("node-").join(",")}`, "--parallel=32", "--keep-going"], {
    onStderr: (text) => {
      const done = (text.match(/^\[ *\d+\//gm) || []).length;
      if (killedAt === null && done >= N / 4) {
        killedAt = done;
        nodes[2].kill("SIGKILL");
      }
    },
  });
  assert.ok(killedAt !== null, "node 2 was killed during the roll-out");
  const sum = JSON.parse(r.stdout);
  assert.equal(r.status, sum.failed === 0 ? 0 : 1);
  assert.equal(sum.hosts.length, N);
  assert.equal(sum.skipped, 0, "--keep-going: every host was tried");
  const results = new Map(sum.hosts.map((h) => [h.device_id, h]));
  console.log(`# cluster: node 2 killed after ${killedAt} of ${N} installs; ${sum.succeeded} succeeded, ${sum.failed} failed, ` +
    `${sum.hosts.filter((h) => h.attempts > 1).length} retried, in ${sum.seconds.toFixed(2)} s`);

  // afterwards (every daemon of node 2 has moved to another node): each
  // host runs the new version, or was reported failed; what runs is what
  // is on disk
  const devices = ids("node-");
  await waitForAsync(async () => (await statusOfAll(nc, TENANT, devices, 2000)).every((s) => s.status === "success"), 30000,
    "every host back on the mesh");
  const entries = await fleetEntries(nc, devices);
  for (let i = 0; i < N; i++) {
    const e = entries[i], res = results.get(devices[i]);
    assert.ok(consistent(path.join(dir, devices[i]), e), `${devices[i]} half-installed: ${JSON.stringify(e)}`);
    if (res.result === "ok") assert.equal(e.version, "2.0.0", devices[i]);
    else assert.equal(res.result, "failed", devices[i]);
  }
  assert.ok(sum.succeeded >= N * 0.9, `${sum.succeeded} of ${N} succeeded`);
});
