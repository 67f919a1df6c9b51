"""Minimal webhook receivers for bench/events_split.sh: one asyncio process, a listener per port given,
HTTP/1.1 keep-alive, `Content-Length` bodies, always `200` with an empty body. Each listener counts the
distinct `webhook-id` values it received; `GET /count` on any of them answers the counts of all of them
as a JSON list (in port order), and `GET /reset` forgets every id (a fresh server numbers its log from 0
again). Nothing is verified here: the signature checks are the e2e tests' job
(tests/python/test_webhooks.py); this only has to answer fast on a core of its own.
usage: python3 bench/webhook_receiver.py PORT [PORT ...]"""
import asyncio
import json
import sys

seen: list[set[bytes]] = []


class Receiver(asyncio.Protocol):
    def __init__(self, slot: int):
        self.slot, self.buf, self.transport = slot, b"", None

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes):
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].split(b"\r\n")
            length, ident = 0, None
            for line in head[1:]:
                k, _, v = line.partition(b":")
                k = k.strip().lower()
                if k == b"content-length":
                    length = int(v.strip())
                elif k == b"webhook-id":
                    ident = v.strip()
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            if head[0].startswith(b"GET /reset"):
                for s in seen:
                    s.clear()
            if head[0].startswith((b"GET /count", b"GET /reset")):
                body = json.dumps([len(s) for s in seen]).encode()
                self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                     % (len(body), body))
                continue
            if ident is not None:
                seen[self.slot].add(ident)
            self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")


async def main(ports: list[int]):
    servers = []
    for slot, port in enumerate(ports):
        seen.append(set())
        loop = asyncio.get_running_loop()
        servers.append(await loop.create_server(lambda s=slot: Receiver(s), "127.0.0.1", port))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


if __name__ == "__main__":
    asyncio.run(main([int(p) for p in sys.argv[1:]]))
