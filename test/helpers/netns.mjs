// A network namespace with a veth pair into it, for the link tests: `host` (in this process's
// namespace, 10.N.0.1/24) and `peer` (inside the namespace, 10.N.0.2/24), IPv6 off so that only the
// packets a test sends (and ARP) cross it. Removed when the test ends. Names carry the pid.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

let seq = 0;

function ip(...args) {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** `{ ns, nsPath, host, peer, hostIp, peerIp, hostIfindex, sendFromNs(n, port), exec(cmd, ...args) }`. */
export function vethNetns(t) {
  const n = ++seq;
  const tag = `${process.pid % 100000}${n}`;
  const ns = `bpfmap_links_${process.pid}_${n}`;
  const host = `bl${tag}h`.slice(0, 15);
  const peer = `bl${tag}p`.slice(0, 15);
  const octet = 100 + ((process.pid + n) % 100);
  const hostIp = `10.${octet}.0.1`;
  const peerIp = `10.${octet}.0.2`;
  ip('netns', 'add', ns);
  t.after(() => {
    try {
      ip('link', 'del', host);
    } catch {}
    try {
      ip('netns', 'del', ns);
    } catch {}
  });
  ip('link', 'add', host, 'type', 'veth', 'peer', 'name', peer);
  ip('link', 'set', peer, 'netns', ns);
  for (const [where, dev, addr] of [
    [[], host, hostIp],
    [['netns', 'exec', ns, 'ip'], peer, peerIp],
  ]) {
    const run = (...a) => (where.length ? ip(...where.slice(0, 3), 'ip', ...a) : ip(...a));
    try {
      if (where.length) execFileSync('ip', ['netns', 'exec', ns, 'sysctl', '-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
      else execFileSync('sysctl', ['-qw', `net.ipv6.conf.${dev}.disable_ipv6=1`]);
    } catch {}
    run('addr', 'add', `${addr}/24`, 'dev', dev);
    run('link', 'set', dev, 'up');
  }
  ip('netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up');
  const hostIfindex = Number(readFileSync(`/sys/class/net/${host}/ifindex`, 'utf8'));
  const nsPath = `/var/run/netns/${ns}`;
  if (!existsSync(nsPath)) throw new Error(`ip netns add made no ${nsPath}`);
  /** Runs node inside the namespace: sends `count` UDP datagrams to host:port, one at a time. */
  const sendFromNs = (count, port = 9) => {
    const script = `const s=require('node:dgram').createSocket('udp4');let i=0;const go=()=>{if(i++>=${count})return s.close();s.send('x',${port},'${hostIp}',go)};go();`;
    execFileSync('ip', ['netns', 'exec', ns, process.execPath, '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
  };
  return {
    ns,
    nsPath,
    host,
    peer,
    hostIp,
    peerIp,
    hostIfindex,
    sendFromNs,
    exec: (cmd, ...args) => execFileSync('ip', ['netns', 'exec', ns, cmd, ...args], { encoding: 'utf8' }),
  };
}

/** Sends `count` UDP datagrams from this process to `addr:port`, one at a time. */
export async function sendUdp(addr, count, port = 9) {
  const dgram = await import('node:dgram');
  const s = dgram.createSocket('udp4');
  for (let i = 0; i < count; i++) await new Promise((res, rej) => s.send('x', port, addr, (e) => (e ? rej(e) : res())));
  s.close();
}
