// A test terminator of HTTP tunnels, which no Debian package offers for POST: HTTP/1.1 (CONNECT,
// or POST with a chunked body) or HTTP/2 cleartext (CONNECT or POST streams). It connects to the
// request's authority (CONNECT target, or Host / :authority for POST), answers 200 and pipes both
// ways, passing each end of stream on as the other side's (FIN <-> last chunk / END_STREAM).
// Each upstream socket is half-open capable (Node would end its side at the peer's FIN).
// Usage: node tunnel_terminator.js h1|h2|h2-trailers PORTFILE. Writes its port to PORTFILE once
// listening. h2-trailers ends each response with trailers (x-trailer: done) instead of an empty
// DATA frame. HTTP/2 on a signal: SIGUSR2 sends every session a GOAWAY covering every stream it
// has (no new stream), SIGHUP one covering stream 1 only (the others are refused by the client).
'use strict';
const fs = require('fs');
const net = require('net');
const http = require('http');
const http2 = require('http2');

const [mode, portfile] = process.argv.slice(2);

function target(authority) {
  const i = authority.lastIndexOf(':');
  return {host: authority.slice(0, i), port: Number(authority.slice(i + 1))};
}

let server;
if (mode === 'h1') {
  server = http.createServer((req, res) => {
    const t = target(req.headers.host);
    // The body may still come after the response ends (the upstream's FIN first): keep
    // reading it rather than let Node discard or time out what is left of the request.
    req.socket.setTimeout(0);
    const sock = net.connect({port: t.port, host: t.host, allowHalfOpen: true}, () => {
      res.writeHead(200, {'x-terminator': 'node-h1'});
      res.flushHeaders();
      req.pipe(sock);
      sock.pipe(res);
    });
    sock.on('error', () => { if (!res.headersSent) { res.writeHead(502); } res.end(); });
  });
  server.on('connect', (req, client, head) => {
    const t = target(req.url);
    const sock = net.connect({port: t.port, host: t.host, allowHalfOpen: true}, () => {
      client.write('HTTP/1.1 200 Connection established\r\n\r\n');
      if (head.length) sock.write(head);
      client.pipe(sock);
      sock.pipe(client);
    });
    sock.on('error', () => client.destroy());
    client.on('error', () => sock.destroy());
  });
} else {
  const trailers = mode === 'h2-trailers';
  const sessions = new Map();  // session -> highest stream id seen
  server = http2.createServer({settings: {initialWindowSize: 1 << 20}});
  server.on('session', (s) => {
    sessions.set(s, 0);
    s.on('close', () => sessions.delete(s));
  });
  process.on('SIGUSR2', () => { for (const [s, last] of sessions) s.goaway(0, last); });
  process.on('SIGHUP', () => { for (const s of sessions.keys()) s.goaway(0, 1); });
  server.on('stream', (stream, headers) => {
    const t = target(headers[':authority']);
    if (stream.id > (sessions.get(stream.session) || 0)) sessions.set(stream.session, stream.id);
    const sock = net.connect({port: t.port, host: t.host, allowHalfOpen: true}, () => {
      stream.respond({':status': 200, 'x-terminator': 'node-h2'}, {waitForTrailers: trailers});
      if (trailers) stream.on('wantTrailers', () => stream.sendTrailers({'x-trailer': 'done'}));
      stream.pipe(sock);
      sock.pipe(stream);
    });
    sock.on('error', () => { if (!stream.headersSent) stream.respond({':status': 502}); stream.destroy(); });
    stream.on('error', () => sock.destroy());
  });
}
if (mode === 'h1') {
  // Node ends an idle kept-alive connection 5 s after a response; a tunnel's request body may
  // still be flowing then.
  server.keepAliveTimeout = 0;
  server.requestTimeout = 0;
}
server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portfile + '.tmp', String(server.address().port));
  fs.renameSync(portfile + '.tmp', portfile);
});
