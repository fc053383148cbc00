'use strict';
// Exercises a distrod node with the published Nacos Node.js naming client
// (HTTP v1 API and UDP push): register, subscribe, read, deregister, and see
// the removal arrive. Usage: node naming.js <http-port> [username password]
// (the client sends the credentials with every request when auth is on).
// Exit 0 on success.
const { NacosNamingClient } = require('nacos');

const [port, username, password] = process.argv.slice(2);
const logger = { info() {}, debug() {}, warn() {}, error: console.error };
const svc = 'node.e2e';
const target = '10.7.0.1:7001';

function waitFor(what, check, ms) {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timeout waiting for ${what}`)), ms);
    check((v) => { clearTimeout(t); resolve(v); });
  });
}

async function main() {
  const client = new NacosNamingClient({ logger, serverList: `127.0.0.1:${port}`, namespace: 'public', username, password });
  await client.ready();
  let latest = [];
  const listeners = [];
  client.subscribe(svc, (hosts) => {
    latest = hosts.map((h) => `${h.ip}:${h.port}`);
    listeners.forEach((fn) => fn());
  });
  const until = (pred) => (done) => {
    const fn = () => { if (pred()) done(); };
    listeners.push(fn);
    fn();
  };

  await client.registerInstance(svc, { ip: '10.7.0.1', port: 7001, weight: 2.5, metadata: { lang: 'node' } });
  await client.registerInstance(svc, { ip: '10.7.0.2', port: 7002 });
  await waitFor('the subscription to show both instances',
    until(() => latest.includes(target) && latest.includes('10.7.0.2:7002')), 15000);

  const all = await client.getAllInstances(svc);
  const inst = all.find((h) => `${h.ip}:${h.port}` === target);
  if (!inst || inst.weight !== 2.5 || !inst.metadata || inst.metadata.lang !== 'node' || !inst.healthy) {
    throw new Error(`unexpected instance ${JSON.stringify(all)}`);
  }

  // The client keeps its last list when a service becomes empty (as the
  // Go SDK does by default), so removal is observed with one instance left.
  await client.deregisterInstance(svc, { ip: '10.7.0.1', port: 7001 });
  await waitFor('the subscription to show the removal',
    until(() => !latest.includes(target) && latest.includes('10.7.0.2:7002')), 20000);

  await client.close();
  console.log('node client: register, subscribe, read, deregister ok');
}

main().then(() => process.exit(0), (e) => { console.error('FAIL', e && e.stack || e); process.exit(1); });
