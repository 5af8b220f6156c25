// SPDX-License-Identifier: MIT
// Mesh authentication and transport security: JWT/nkey credentials minted
// here with @nats-io/jwt + @nats-io/nkeys (Device Connect .creds.json and
// classic .creds), and TLS with a test CA, including a server certificate
// for the wrong host name.  Real nats-server, real daemon, nats.js caller.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { connect, StringCodec, credsAuthenticator } from "nats";
import { createOperator, createAccount, createUser } from "@nats-io/nkeys";
import { encodeOperator, encodeAccount, encodeUser, fmtCreds } from "@nats-io/jwt";
import { rpcUntilAnswered, startNats as natsServer, waitFor } from "./helpers.mjs";

const sc = StringCodec();
const HOSTD = process.env.DC_HOSTD;
const EXAMPLES = process.env.DC_EXAMPLES_DIR;
const base = "/run/dc-plugin-host-tests";
fs.mkdirSync(base, { recursive: true, mode: 0o755 });
const tmp = fs.mkdtempSync(path.join(base, "auth-"));
fs.chmodSync(tmp, 0o755);
const procs = [];

async function startNats(conf) {
  const p = await natsServer({ conf, confPath: path.join(tmp, `nats-${procs.length}.conf`) });
  procs.push(p);
  return p;
}



function startHostd(name, lines) {
  const dir = path.join(tmp, name);
  fs.mkdirSync(path.join(dir, "plugins", "hello-world"), { recursive: true, mode: 0o755 });
  for (const f of ["hello-world.so", "manifest.json"]) fs.copyFileSync(path.join(EXAMPLES, "hello-world", f), path.join(dir, "plugins", "hello-world", f));
  fs.mkdirSync(path.join(dir, "state"), { mode: 0o700 });
  fs.writeFileSync(path.join(dir, "hostd.conf"), [
    `PluginDirectories=${dir}/plugins`, `StateDirectory=${dir}/state`, `SignaturesFile=${dir}/none.json`,
    `TrustedKeysDirectory=${dir}/none.d`,
    "AllowUnverifiedMeshInstalls=yes", ...lines, ""].join("\n"));
  const log = path.join(dir, "hostd.log");
  const p = spawn(HOSTD, ["--config", path.join(dir, "hostd.conf"), "--no-bus", "--log-target=console"], {
    stdio: ["ignore", fs.openSync(log, "a"), fs.openSync(log, "a")],
    env: { ...process.env, DEVICE_CONNECT_REGISTER_JITTER: "0" },
  });
  p.logfile = log;
  procs.push(p);
  return p;
}

async function stop(p) {
  if (p.exitCode === null && p.signalCode === null) {
    p.kill("SIGTERM");
    await new Promise((r) => p.on("exit", r));
  }
  const rc = p.signalCode ? p.signalCode : p.exitCode;
  if (rc !== 0 && p.logfile)
    console.error(`daemon ${p.logfile} exited with ${rc}:\n` + fs.readFileSync(p.logfile, "utf8").slice(-3000));
  return rc;
}

const logOf = (p) => fs.readFileSync(p.logfile, "utf8");


after(async () => {
  for (const p of procs) await stop(p);
  fs.rmSync(tmp, { recursive: true, force: true });
});

test("JWT/nkey: Device Connect .creds.json and classic .creds", async () => {
  const okp = createOperator(), akp = createAccount(), ukp = createUser(), other = createAccount();
  const opJwt = await encodeOperator("op", okp);
  // unlimited account: the library's defaults allow no connections
  const limits = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const accJwt = await encodeAccount("lab", akp, { limits }, { signer: okp });
  const userJwt = await encodeUser("device", ukp, akp);
  const strangerJwt = await encodeUser("stranger", createUser(), other); // an account the server does not know
  const server = await startNats(`port: -1\nhost: 127.0.0.1\noperator: "${opJwt}"\nresolver: MEMORY\n` +
    `resolver_preload: { ${akp.getPublicKey()}: "${accJwt}" }\n`);
  const url = `nats://127.0.0.1:${server.port}`;
  const nc = await connect({ servers: url, authenticator: credsAuthenticator(fmtCreds(userJwt, ukp)) });

  // .creds.json fills in URL, tenant and device id
  const cj = path.join(tmp, "lab-ph.creds.json");
  fs.writeFileSync(cj, JSON.stringify({ device_id: "lab-ph", auth_type: "jwt", tenant: "lab",
    nats: { urls: [url], jwt: userJwt, nkey_seed: new TextDecoder().decode(ukp.getSeed()) } }));
  const a = startHostd("jwt-json", [`MeshCredentialsFile=${cj}`]);
  let r = await rpcUntilAnswered(nc, "device-connect.lab.lab-ph.cmd", "get_status");
  assert.equal(r.result.status, "success");
  assert.equal(r.result.connected, true);
  assert.equal(await stop(a), 0);

  // classic nsc .creds, with the URL and identity from the configuration
  const classic = path.join(tmp, "device.creds");
  fs.writeFileSync(classic, fmtCreds(userJwt, ukp));
  const b = startHostd("jwt-classic", [`MeshCredentialsFile=${classic}`, `MeshURLs=${url}`, "Tenant=lab", "DeviceId=classic-ph"]);
  r = await rpcUntilAnswered(nc, "device-connect.lab.classic-ph.cmd", "get_status");
  assert.equal(r.result.status, "success");
  assert.equal(await stop(b), 0);

  // credentials of an account the server does not trust: never serves
  const bad = path.join(tmp, "bad.creds");
  fs.writeFileSync(bad, fmtCreds(strangerJwt, createUser()));
  const c = startHostd("jwt-bad", [`MeshCredentialsFile=${bad}`, `MeshURLs=${url}`, "Tenant=lab", "DeviceId=bad-ph"]);
  await waitFor(() => /retrying/.test(logOf(c)), 10000, "the connection failure");
  await assert.rejects(nc.request("device-connect.lab.bad-ph.cmd", sc.encode("{}"), { timeout: 1000 }), /503|TIMEOUT/);
  assert.equal(await stop(c), 0); // a clean stop, even never connected
  await nc.close();
});

test("TLS with a test CA; host name verification on by default", async () => {
  const pki = path.join(tmp, "pki");
  fs.mkdirSync(pki);
  const ossl = (...a) => execFileSync("openssl", a, { stdio: "ignore" });
  ossl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", "/CN=dc-mesh-test-ca", "-keyout", `${pki}/ca.key`, "-out", `${pki}/ca.pem`);
  for (const [name, san] of [["good", "DNS:localhost"], ["wrong", "DNS:not-this-host.example"]]) {
    ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=" + name,
      "-keyout", `${pki}/${name}.key`, "-out", `${pki}/${name}.csr`);
    fs.writeFileSync(`${pki}/${name}.ext`, `subjectAltName=${san}\n`);
    ossl("x509", "-req", "-in", `${pki}/${name}.csr`, "-CA", `${pki}/ca.pem`, "-CAkey", `${pki}/ca.key`,
      "-CAcreateserial", "-days", "2", "-extfile", `${pki}/${name}.ext`, "-out", `${pki}/${name}.pem`);
  }
  const tlsConf = (name) => `port: -1\nhost: 127.0.0.1\ntls { cert_file: "${pki}/${name}.pem"\n key_file: "${pki}/${name}.key" }\n`;
  const good = await startNats(tlsConf("good"));
  const nc = await connect({ servers: `tls://localhost:${good.port}`, tls: { caFile: `${pki}/ca.pem` } });
  const a = startHostd("tls-good", [`MeshURLs=tls://localhost:${good.port}`, `MeshTLSCAFile=${pki}/ca.pem`,
    "Tenant=lab", "DeviceId=tls-ph"]);
  const r = await rpcUntilAnswered(nc, "device-connect.lab.tls-ph.cmd", "get_status");
  assert.equal(r.result.connected, true);
  assert.equal(await stop(a), 0);
  await nc.close();

  // a certificate from the trusted CA but for another host name: refused
  const wrong = await startNats(tlsConf("wrong"));
  const nc2 = await connect({ servers: `tls://127.0.0.1:${wrong.port}`, tls: { caFile: `${pki}/ca.pem`, rejectUnauthorized: false } });
  const b = startHostd("tls-wrong", [`MeshURLs=tls://localhost:${wrong.port}`, `MeshTLSCAFile=${pki}/ca.pem`,
    "Tenant=lab", "DeviceId=tls-wrong"]);
  await waitFor(() => /retrying/.test(logOf(b)), 10000, "the TLS failure");
  await assert.rejects(nc2.request("device-connect.lab.tls-wrong.cmd", sc.encode("{}"), { timeout: 1000 }), /503|TIMEOUT/);
  assert.equal(await stop(b), 0);
  // the explicit opt-out connects (proving the name was the only problem)
  const c = startHostd("tls-skip", [`MeshURLs=tls://localhost:${wrong.port}`, `MeshTLSCAFile=${pki}/ca.pem`,
    "MeshTLSVerifyHostname=no", "Tenant=lab", "DeviceId=tls-skip"]);
  const r2 = await rpcUntilAnswered(nc2, "device-connect.lab.tls-skip.cmd", "get_status");
  assert.equal(r2.result.status, "success");
  assert.match(logOf(c), /host name verification is off/);
  assert.equal(await stop(c), 0);
  await nc2.close();

  // mutual TLS: the server demands a client certificate from the test CA
  ossl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=device",
    "-keyout", `${pki}/client.key`, "-out", `${pki}/client.csr`);
  ossl("x509", "-req", "-in", `${pki}/client.csr`, "-CA", `${pki}/ca.pem`, "-CAkey", `${pki}/ca.key`,
    "-CAcreateserial", "-days", "2", "-out", `${pki}/client.pem`);
  const mtls = await startNats(`port: -1\nhost: 127.0.0.1\ntls { cert_file: "${pki}/good.pem"\n key_file: "${pki}/good.key"\n` +
    ` ca_file: "${pki}/ca.pem"\n verify: true }\n`);
  const nc3 = await connect({ servers: `tls://localhost:${mtls.port}`,
    tls: { caFile: `${pki}/ca.pem`, certFile: `${pki}/client.pem`, keyFile: `${pki}/client.key` } });
  const d = startHostd("mtls", [`MeshURLs=tls://localhost:${mtls.port}`, `MeshTLSCAFile=${pki}/ca.pem`,
    `MeshTLSCertFile=${pki}/client.pem`, `MeshTLSKeyFile=${pki}/client.key`, "Tenant=lab", "DeviceId=mtls-ph"]);
  assert.equal((await rpcUntilAnswered(nc3, "device-connect.lab.mtls-ph.cmd", "get_status")).result.connected, true);
  assert.equal(await stop(d), 0);
  // without the client certificate the server refuses the daemon
  const e = startHostd("mtls-none", [`MeshURLs=tls://localhost:${mtls.port}`, `MeshTLSCAFile=${pki}/ca.pem`,
    "Tenant=lab", "DeviceId=mtls-none"]);
  await waitFor(() => /retrying/.test(logOf(e)), 10000, "the refused handshake");
  await assert.rejects(nc3.request("device-connect.lab.mtls-none.cmd", sc.encode("{}"), { timeout: 1000 }), /503|TIMEOUT/);
  assert.equal(await stop(e), 0);
  await nc3.close();
});

test("token and user/password authentication", async () => {
  for (const [auth, good, bad, client] of [
    ['authorization { token: "s3cret-token" }', ["MeshToken=s3cret-token"], ["MeshToken=wrong"], { token: "s3cret-token" }],
    ['authorization { user: "device", password: "pw-123" }', ["MeshUser=device", "MeshPassword=pw-123"],
      ["MeshUser=device", "MeshPassword=nope"], { user: "device", pass: "pw-123" }],
  ]) {
    const server = await startNats(`port: -1\nhost: 127.0.0.1\n${auth}\n`);
    const url = `nats://127.0.0.1:${server.port}`;
    const nc = await connect({ servers: url, ...client });
    const name = "a" + procs.length;
    const ok = startHostd(name, [`MeshURLs=${url}`, "Tenant=lab", `DeviceId=${name}`, ...good]);
    assert.equal((await rpcUntilAnswered(nc, `device-connect.lab.${name}.cmd`, "get_status")).result.status, "success");
    assert.equal(await stop(ok), 0);
    const wrong = startHostd(name + "x", [`MeshURLs=${url}`, "Tenant=lab", `DeviceId=${name}x`, ...bad]);
    await waitFor(() => /retrying/.test(logOf(wrong)), 10000, "the refused credentials");
    await assert.rejects(nc.request(`device-connect.lab.${name}x.cmd`, sc.encode("{}"), { timeout: 1000 }), /503|TIMEOUT/);
    assert.equal(await stop(wrong), 0);
    await nc.close();
  }
});

test("operator and admin credentials: NATS permissions on …cmd and …admin, MeshAdminRPCsOnCmd=no", async () => {
  const { hostctl, packFolder, pluginFolder, sha256 } = await import("./fleet-lib.mjs");
  const okp = createOperator(), akp = createAccount();
  const limits = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
  const opJwt = await encodeOperator("op", okp);
  const accJwt = await encodeAccount("lab", akp, { limits }, { signer: okp });
  // docs/mesh.md, "Admin and operator": the same subscriptions for both;
  // only the admin may publish on …<device>.admin
  const reads = ["_INBOX.>", "device-connect.lab.*.event.>", "device-connect.lab.*.heartbeat", "device-connect.lab.*.presence"];
  const invoke = ["device-connect.lab.*.cmd", "device-connect.lab.discovery", "device-connect.lab.discovery.probe"];
  const users = {
    device: { pub: { allow: ["device-connect.lab.>", "_INBOX.>"], deny: ["device-connect.lab.*.admin"] },
      sub: { allow: ["device-connect.lab.>", "_INBOX.>"] } },
    operator: { pub: { allow: invoke }, sub: { allow: reads } },
    admin: { pub: { allow: [...invoke, "device-connect.lab.*.admin"] }, sub: { allow: reads } },
  };
  const creds = {};
  for (const [name, perms] of Object.entries(users)) {
    const ukp = createUser();
    creds[name] = path.join(tmp, `${name}.creds`);
    fs.writeFileSync(creds[name], fmtCreds(await encodeUser(name, ukp, akp, perms), ukp));
  }
  const server = await startNats(`port: -1\nhost: 127.0.0.1\noperator: "${opJwt}"\nresolver: MEMORY\n` +
    `resolver_preload: { ${akp.getPublicKey()}: "${accJwt}" }\n`);
  const url = `nats://127.0.0.1:${server.port}`;
  const h = startHostd("perms", [`MeshCredentialsFile=${creds.device}`, `MeshURLs=${url}`, "Tenant=lab", "DeviceId=perm-host",
    "MeshAdminRPCsOnCmd=no"]);
  const conn = async (who) => connect({ servers: url, authenticator: credsAuthenticator(fs.readFileSync(creds[who])) });
  const op = await conn("operator"), adm = await conn("admin");
  const CMD = "device-connect.lab.perm-host.cmd", ADMIN = "device-connect.lab.perm-host.admin";
  const ask = async (nc, subject, method, params = {}) =>
    JSON.parse(sc.decode((await nc.request(subject, sc.encode(JSON.stringify({ jsonrpc: "2.0", id: "p", method, params })),
      { timeout: 3000 })).data));
  const src = path.join(tmp, "perm-src");
  const bundle = packFolder(pluginFolder(src, "probe", path.join(process.env.DC_TEST_PLUGINS_DIR, "probe-a.so")));
  const install = { bundle_b64: bundle.toString("base64"), digest: sha256(bundle) };

  // the operator: invoke and read on cmd; installs are refused there, and NATS refuses it the admin subject
  assert.equal((await rpcUntilAnswered(op, CMD, "get_status")).result.status, "success");
  assert.deepEqual((await ask(op, CMD, "hello_world", { name: "op" })).result, { message: "Hello, op!" });
  assert.equal((await ask(op, CMD, "install_plugin_from_bundle", install)).result.error, "admin-only");
  await assert.rejects(ask(op, ADMIN, "install_plugin_from_bundle", install), /PERMISSIONS_VIOLATION|Permissions Violation|TIMEOUT/);
  assert.deepEqual((await ask(op, CMD, "get_status")).result.loaded_plugins, ["hello-world"]);
  let r = await hostctl(["--mesh", `--creds=${creds.operator}`, `--nats-url=${url}`, "--tenant=lab", "--device=perm-host", "--timeout=2", "install", path.join(src, "probe")]);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /served on device-connect\.lab\.perm-host\.admin only/);

  // the admin: the same RPC on the admin subject; hostctl finds its way there
  r = (await ask(adm, ADMIN, "install_plugin_from_bundle", install)).result;
  assert.deepEqual([r.status, r.load_result.status], ["success", "success"]);
  r = await hostctl(["--mesh", `--creds=${creds.admin}`, `--nats-url=${url}`, "--tenant=lab", "--device=perm-host", "remove", "probe"]);
  assert.equal(r.status, 0, r.stderr);
  r = await hostctl(["--mesh", `--creds=${creds.admin}`, `--nats-url=${url}`, "--tenant=lab", "--device=perm-host", "install", path.join(src, "probe")]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((await ask(op, CMD, "probe.probe")).result, { build: "A" });
  await op.close();
  await adm.close();
  assert.equal(await stop(h), 0);
});
