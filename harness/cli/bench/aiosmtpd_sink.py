"""The P2 peer of `kmlab bench`: Python's aiosmtpd receiving on loopback.

Like kmlab's sink it keeps every message it is given in memory, and like kmlab's sink it
acknowledges what it reads at once (TCP_QUICKACK): lettre writes the end of DATA apart from
the message, so a receiver that delays its ACK stalls each message for the delayed-ACK timer
whatever its own speed. It prints `PORT <n>` once it listens, and `STORED <n>` when its
standard input closes, then exits.
"""

import socket
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Keep:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


class QuickAckSMTP(SMTP):
    def data_received(self, data):
        sock = self.transport.get_extra_info("socket") if self.transport else None
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
            except OSError:
                pass
        super().data_received(data)


class QuickAckController(Controller):
    def factory(self):
        return QuickAckSMTP(self.handler, **self.SMTP_kwargs)


def main():
    handler = Keep()
    # A free loopback port (aiosmtpd's controller checks readiness by connecting to the port
    # it was given, so it cannot be given 0).
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    controller = QuickAckController(
        handler, hostname="127.0.0.1", port=port, data_size_limit=None
    )
    controller.start()
    print(f"PORT {port}", flush=True)
    sys.stdin.read()
    controller.stop()
    print(f"STORED {len(handler.messages)}", flush=True)


if __name__ == "__main__":
    main()
