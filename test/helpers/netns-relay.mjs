// TCP over a Unix socket between network namespaces (the file system is shared, the loopbacks are not).
//   node netns-relay.mjs host DIR PORT...  (in the host's namespace) DIR/PORT.sock → 127.0.0.1:PORT
//   node netns-relay.mjs ns DIR PORT...    (inside a namespace)      127.0.0.1:PORT → DIR/PORT.sock
// Prints "ready" once every listener is up.
import { rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

const [mode, dir, ...ports] = process.argv.slice(2);
if ((mode !== 'host' && mode !== 'ns') || !dir || ports.length === 0) {
  console.error('usage: netns-relay.mjs host|ns DIR PORT...');
  process.exit(2);
}
let pending = ports.length;
for (const p of ports) {
  const port = Number(p);
  const sock = path.join(dir, `${port}.sock`);
  const server = net.createServer((c) => {
    const u = mode === 'host' ? net.connect(port, '127.0.0.1') : net.connect(sock);
    c.pipe(u);
    u.pipe(c);
    const close = () => {
      c.destroy();
      u.destroy();
    };
    c.on('error', close).on('close', close);
    u.on('error', close).on('close', close);
  });
  const ready = () => {
    if (--pending === 0) console.log('ready');
  };
  if (mode === 'host') {
    rmSync(sock, { force: true });
    server.listen(sock, ready);
  } else server.listen(port, '127.0.0.1', ready);
}
