"""A recording TCP proxy for `scripts/compat.sh --trace`: which API versions each client asks for.

    apitrace.py LISTEN_PORT BROKER_PORT LABEL_FILE OUT_FILE

The runner advertises LISTEN_PORT as the broker's address, so every connection a client opens
(bootstrap and after Metadata) passes through here. Each request's header (api key, version) is
read off the stream and forwarded untouched; the first time a client uses an (api, version) pair
a line `client<TAB>api_key<TAB>version` is appended to OUT_FILE. A connection belongs to the client
named in LABEL_FILE when it was accepted (the runner writes it before starting each client).
Standard library only.
"""

import asyncio
import struct
import sys
from pathlib import Path

seen = set()


async def pump(reader, writer, on_frame=None):
    """Copies bytes one way; with on_frame, also hands every complete request frame's header to it."""
    pending = b""
    try:
        while data := await reader.read(65536):
            writer.write(data)
            if on_frame is not None:
                pending += data
                while len(pending) >= 4:
                    size = struct.unpack(">i", pending[:4])[0]
                    if len(pending) < 4 + size:
                        break
                    if size >= 4:
                        on_frame(*struct.unpack(">hh", pending[4:8]))
                    pending = pending[4 + size :]
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def main(listen_port, broker_port, label_file, out_file):
    async def handle(client_reader, client_writer):
        label = label_file.read_text().strip() if label_file.exists() else "unknown"
        try:
            broker_reader, broker_writer = await asyncio.open_connection("127.0.0.1", broker_port)
        except OSError:
            client_writer.close()
            return

        def on_request(api_key, version):
            if (label, api_key, version) not in seen:
                seen.add((label, api_key, version))
                with out_file.open("a") as f:
                    f.write(f"{label}\t{api_key}\t{version}\n")

        await asyncio.gather(
            pump(client_reader, broker_writer, on_request), pump(broker_reader, client_writer)
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 5:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4])))
