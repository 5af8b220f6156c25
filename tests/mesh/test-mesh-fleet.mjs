// SPDX-License-Identifier: MIT
// The fleet operator's side of dc-plugin-hostctl --mesh: hosts, the local
// tables over the mesh, --config, installs from dc-mesh:// URLs with the
// publisher's digest, remote remove, and rollout (to named hosts, --all,
// --dry-run, stopping at the first failure unless --keep-going).  Real
// daemons (infra and D2D) on a real nats-server with a fake registry.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { connect } from "nats";
import { startNats, waitFor } from "./helpers.mjs";
import { FakeRegistry, PLUGINS, bulkify, examplePlugin, hostctl, pluginFolder, scratch, startDaemon, stopDaemon,
  upstreamCall } from "./fleet-lib.mjs";

const TENANT = "lab";
let tmp, nats, nc, registry;
const hosts = {};

function daemon(name, { fleet = null, lines = [] } = {}) {
  const dir = path.join(tmp, name);
  examplePlugin(path.join(dir, "plugins"), "hello-world");
  if (fleet) {
    // the store holds the fleet plugin before the daemon starts
    fs.mkdirSync(path.join(dir, "state", "plugins"), { recursive: true, mode: 0o755 });
    fs.chmodSync(path.join(dir, "state"), 0o700);
    const so = bulkify(fs.readFileSync(path.join(PLUGINS, `fleet-${fleet[0]}.so`)));
    pluginFolder(path.join(dir, "state", "plugins"), "fleet", null, { version: fleet, so });
  }
  hosts[name] = startDaemon(dir, [`MeshURLs=nats://127.0.0.1:${nats.port}`, `Tenant=${TENANT}`, `DeviceId=${name}`, ...lines]);
}

const ctl = (...args) => hostctl(["--mesh", `--nats-url=nats://127.0.0.1:${nats.port}`, `--tenant=${TENANT}`, "--timeout=10", ...args]);
const probe = async (host) => (await upstreamCall(nc, `device-connect.${TENANT}.${host}.cmd`, "fleet.probe")).result;

before(async () => {
  tmp = scratch("fleet-");
  nats = await startNats();
  nc = await connect({ servers: `127.0.0.1:${nats.port}` });
  registry = new FakeRegistry(nc, TENANT);
  await nc.flush();
  daemon("src", { fleet: "2.0.0" });
  daemon("t1", { fleet: "1.0.0" });
  daemon("t2", { fleet: "1.0.0" });
  daemon("d2d", { lines: ["MeshDiscoveryMode=d2d"] });
  await waitFor(() => ["src", "t1", "t2"].every((h) => registry.devices.has(h)), 10000, "the infra hosts to register");
});

after(async () => {
  for (const p of Object.values(hosts)) await stopDaemon(p);
  registry.close();
  await nc.close();
  nats.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("hosts: registry, presence and get_status, as a table and as JSON", async () => {
  let r = await ctl("hosts", "--json");
  assert.equal(r.status, 0, r.stderr);
  const list = JSON.parse(r.stdout);
  assert.deepEqual(list.map((h) => h.device_id), ["d2d", "src", "t1", "t2"]);
  for (const h of list) {
    assert.equal(h.answered, true, h.device_id);
    assert.match(h.version, /^\d+\.\d+/);
    assert.ok(Array.isArray(h.loaded_plugins));
  }
  assert.deepEqual(list.find((h) => h.device_id === "t1").sources.slice(0, 1), ["registry"]);
  assert.ok(list.find((h) => h.device_id === "d2d").sources.includes("presence"));
  assert.equal(list.find((h) => h.device_id === "t1").loaded_count, 2);
  r = await ctl("hosts");
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split("\n");
  assert.match(lines[0], /^DEVICE\s+VERSION\s+PLUGINS\s+LAST SEEN\s+FOUND BY$/);
  assert.match(r.stdout, /^t1\s+\d+\.\d+\S*\s+2\s+now\s+registry/m);
  assert.match(r.stdout, /4 plugin host\(s\), 4 answered\./);
  // the output options of every command: no header and footer, JSON on one line
  r = await ctl("--no-legend", "hosts");
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]), ["d2d", "src", "t1", "t2"]);
  r = await ctl("--json=short", "hosts");
  assert.equal(r.stdout.trim().split("\n").length, 1);
  assert.equal(JSON.parse(r.stdout).length, 4);
  // hosts needs the mesh: an invalid command line
  r = await hostctl(["hosts"]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /works on the mesh: add --mesh/);
});

test("status, list and show over the mesh are the local tables; a failure is said once", async () => {
  let r = await ctl("--device=t1", "status");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ +Device: t1 \(tenant lab\)$/m);
  assert.match(r.stdout, /^ +Version: \d+\.\d+/m);
  assert.match(r.stdout, /^Signature mode: permissive$/m);
  assert.match(r.stdout, /^ +Plugins: 2 loaded: /m);
  r = await ctl("--device=t1", "list");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ID\s+STATE\s+REASON\s+VERSION\s+DIGEST/);
  assert.match(r.stdout, /^fleet\s+loaded\s+-\s+1\.0\.0\s+sha256:[0-9a-f]{12}…/m);
  assert.match(r.stdout, /^hello-world\s+loaded\s/m);
  r = await ctl("--device=t1", "--no-legend", "list");
  assert.deepEqual(r.stdout.trim().split("\n").map((l) => l.split(/\s+/)[0]).sort(), ["fleet", "hello-world"]);
  r = await ctl("--device=t1", "show", "fleet");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^ +Id: fleet$/m);
  assert.match(r.stdout, /^ +State: loaded$/m);
  assert.match(r.stdout, /^ +Digest: sha256:[0-9a-f]{64}$/m);
  assert.match(r.stdout, /^ +Functions: probe$/m);
  r = await ctl("--device=t1", "--json", "show", "fleet");
  assert.deepEqual([JSON.parse(r.stdout).id, JSON.parse(r.stdout).state], ["fleet", "loaded"]);
  // failures: one line on stderr, nothing on stdout
  for (const args of [["--device=t1", "show", "nope"], ["--device=t1", "unload", "nope"], ["--device=nobody", "status"]]) {
    r = await ctl(...args);
    assert.equal(r.status, 1, args.join(" "));
    assert.equal(r.stdout, "", args.join(" "));
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  }
  assert.match(r.stderr, /nobody is not on the mesh/);
  // --json: the result is the output, failures included
  r = await ctl("--device=t1", "--json", "unload", "nope");
  assert.equal(r.status, 1);
  assert.equal(JSON.parse(r.stdout).error, "not-loaded");
  assert.equal(r.stderr, "");
});

test("--config: the mesh settings of the configuration file", async () => {
  const conf = path.join(tmp, "ctl.conf");
  fs.writeFileSync(conf, `[Mesh]\nMeshURLs=nats://127.0.0.1:${nats.port}\nTenant=${TENANT}\nDeviceId=t2\n`);
  let r = await hostctl(["--mesh", `--config=${conf}`, "status"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /Device: t2 \(tenant lab\)/);
  // the command line still wins
  r = await hostctl(["--mesh", `--config=${conf}`, "--device=t1", "status"]);
  assert.match(r.stdout, /Device: t1 /);
  r = await hostctl(["--mesh", `--config=${path.join(tmp, "missing.conf")}`, "status"]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /missing\.conf/);
});

test("install a dc-mesh:// URL on a remote host with the publisher's digest; remove", async () => {
  let r = await ctl("--device=src", "--json", "publish", "fleet");
  assert.equal(r.status, 0, r.stderr);
  const art = JSON.parse(r.stdout).artifact;
  assert.equal(art.url, `dc-mesh://${TENANT}/src/artifacts/fleet/2.0.0.tgz`);
  r = await ctl("--device=src", "publish", "fleet");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Published fleet as dc-mesh:\/\/lab\/src\/artifacts\/fleet\/2\.0\.0\.tgz\n  digest: sha256:[0-9a-f]{64}\n    size: \d+\n$/);
  r = await ctl("--device=src", "artifacts");
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^PLUGIN\s+VERSION\s+FILE\s+SIZE\s+CREATED\s+DIGEST\s+URL$/m);
  assert.match(r.stdout, /^fleet\s+2\.0\.0\s+2\.0\.0\.tgz\s+\d+\s+\S+\s+sha256:[0-9a-f]{12}…\s+dc-mesh:\/\/lab\/src\/artifacts\/fleet\/2\.0\.0\.tgz$/m);
  assert.match(r.stdout, /^1 artifact\(s\)\.$/m);
  r = await ctl("--device=t1", "--digest=sha256:" + "0".repeat(64), "install", art.url);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /The publisher's digest of .* is sha256:[0-9a-f]{64}, not sha256:0{64}/);
  assert.equal((await probe("t1")).version, "1.0.0");
  r = await ctl("--device=t1", "install", art.url);
  assert.equal(r.status, 1, "installed already: needs --replace");
  assert.match(r.stderr, /already exists/);
  r = await ctl("--device=t1", "--replace", "install", art.url);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^Installed plugin fleet \(.*\), loaded$/m);
  assert.equal((await probe("t1")).version, "2.0.0");
  r = await ctl("--device=t1", "install", `dc-mesh://${TENANT}/src/artifacts/fleet/9.9.9.tgz`);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /src has published no artifact 9\.9\.9\.tgz of fleet/);

  r = await ctl("--device=t2", "remove", "fleet");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), "Removed plugin fleet");
  assert.ok(!fs.existsSync(path.join(tmp, "t2", "state", "plugins", "fleet")));
  r = await ctl("--device=t2", "remove", "fleet");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /is not installed \(not-found\)/);
});

test("rollout: publish or reuse on the source, install and check on each target, a summary", async () => {
  // t1 runs 2.0.0 already, t2 has nothing: both end with 2.0.0
  let r = await ctl("rollout", "fleet@2.0.0", "--from=src", "--to=t1,t2");
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stderr, /Rolling out fleet 2\.0\.0 \(sha256:[0-9a-f]{64}, \d+ bytes, published before by src\) to 2 host\(s\)/);
  assert.match(r.stderr, /^\[ ?\d\/2\] t[12] +ok 2\.0\.0/m);
  assert.match(r.stdout, /^t1\s+ok\s+2\.0\.0\s/m);
  assert.match(r.stdout, /^t2\s+ok\s+2\.0\.0\s/m);
  assert.match(r.stdout, /2 succeeded, 0 failed, 0 skipped\.$/m);
  for (const h of ["t1", "t2"]) assert.equal((await probe(h)).version, "2.0.0", h);

  r = await ctl("--json", "rollout", "fleet", "--from=src", "--all", "--dry-run");
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  assert.deepEqual(plan.hosts.map((h) => h.device_id), ["d2d", "t1", "t2"]);
  assert.deepEqual([plan.version, plan.dry_run, plan.hosts[0].result], ["2.0.0", true, "planned"]);
  assert.ok(!(await upstreamCall(nc, `device-connect.${TENANT}.d2d.cmd`, "get_status")).result.loaded_plugins.includes("fleet"));

  r = await ctl("rollout", "fleet", "--from=src", "--to=t1", "--dry-run");
  assert.match(r.stdout, /^Would roll out fleet 2\.0\.0 \(sha256:[0-9a-f]{64}, dc-mesh:\/\/lab\/src\/artifacts\/fleet\/2\.0\.0\.tgz\) from src to 1 host\(s\):\n  t1$/m);

  r = await ctl("rollout", "fleet@7.0.0", "--from=src", "--to=t1");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /src has published no fleet 7\.0\.0 and runs 2\.0\.0/);
  // the command line is checked before anything is sent
  r = await ctl("rollout", "fleet", "--from=src");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /either --to=HOST,… or --all/);
});

test("rollout stops at the first failure unless --keep-going", async () => {
  // t2 back to 1.0.0 first (an older version needs allow_downgrade: remove, then install 1.0.0 from a bundle)
  await ctl("--device=t2", "remove", "fleet");
  const src = path.join(tmp, "v1");
  pluginFolder(src, "fleet", null, { version: "1.0.0", so: bulkify(fs.readFileSync(path.join(PLUGINS, "fleet-1.so"))) });
  let r = await ctl("--device=t2", "--json", "install", path.join(src, "fleet"));
  assert.equal(JSON.parse(r.stdout).error, "rollback", "the version floor of t2 is 2.0.0 now");
  r = await ctl("--device=t2", "--allow-downgrade", "install", path.join(src, "fleet"));
  assert.equal(r.status, 0, r.stderr);
  assert.equal((await probe("t2")).version, "1.0.0");
  // a host that is not there fails; with --parallel=1 the hosts after it are never tried
  r = await ctl("rollout", "fleet", "--from=src", "--to=t1,ghost,d2d", "--parallel=1");
  assert.equal(r.status, 1);
  assert.match(r.stdout, /^t1\s+ok\s/m);
  assert.match(r.stdout, /^ghost\s+failed\s+-\s+\d+ ms\s+device ghost is not on the mesh/m);
  assert.match(r.stdout, /^d2d\s+skipped\s/m);
  assert.match(r.stdout, /1 succeeded, 1 failed, 1 skipped\.$/m);
  assert.ok(!(await upstreamCall(nc, `device-connect.${TENANT}.d2d.cmd`, "get_status")).result.loaded_plugins.includes("fleet"));
  r = await ctl("--json", "rollout", "fleet", "--from=src", "--to=t1,ghost,d2d", "--parallel=1", "--keep-going");
  assert.equal(r.status, 1);
  const sum = JSON.parse(r.stdout);
  assert.deepEqual(sum.hosts.map((h) => [h.device_id, h.result]), [["t1", "ok"], ["ghost", "failed"], ["d2d", "ok"]]);
  assert.equal(sum.hosts[1].attempts, 3, "no answer: tried again");
  assert.equal((await probe("d2d")).version, "2.0.0");
});

test("hosts without a registry and without D2D: found by their heartbeats", async () => {
  const lone = await startNats();
  const url = `nats://127.0.0.1:${lone.port}`;
  const ps = ["hb1", "hb2"].map((name) => {
    const dir = path.join(tmp, name);
    examplePlugin(path.join(dir, "plugins"), "hello-world");
    // no registry answers: the registrar keeps retrying in the background
    return startDaemon(dir, [`MeshURLs=${url}`, `Tenant=${TENANT}`, `DeviceId=${name}`, "MeshTTLSec=3"]);
  });
  try {
    const watcher = await connect({ servers: url });
    let beats = 0;
    watcher.subscribe(`device-connect.${TENANT}.*.heartbeat`, { callback: () => beats++ });
    await watcher.flush();
    await waitFor(() => beats >= 2, 10000, "heartbeats");
    await watcher.close();
    const r = await hostctl(["--mesh", `--nats-url=${url}`, `--tenant=${TENANT}`, "--json", "hosts"]);
    assert.equal(r.status, 0, r.stderr);
    const list = JSON.parse(r.stdout);
    assert.deepEqual(list.map((h) => [h.device_id, h.sources, h.answered]), [["hb1", ["heartbeat"], true], ["hb2", ["heartbeat"], true]]);
    assert.equal(typeof list[0].last_seen, "number");
  } finally {
    for (const p of ps) assert.equal(await stopDaemon(p), 0);
    lone.kill();
  }
});
