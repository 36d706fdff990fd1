"""A terminal phone simulator: plays USSD sessions against a running gateway exactly as Africa's
Talking would (form-encoded POSTs, `text` accumulating, a new `sessionId` per dial).

For demos to program staff and for trying a flow edit before it goes live. Inputs are typed one per
line; `*` inside a line sends several inputs at once (a dial-through); `q` hangs up (a dropped call,
which the next dial can resume); end of input hangs up too.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

SERVICE_CODE = "*384*2026#"


class PhoneError(RuntimeError):
    """The gateway could not be reached or answered something Africa's Talking would reject."""


def post_hop(url: str, session_id: str, number: str, network: str, text: str) -> str:
    data = urlencode({"sessionId": session_id, "serviceCode": SERVICE_CODE, "phoneNumber": number,
                      "networkCode": network, "text": text}).encode()
    request = Request(url, data=data, method="POST",  # noqa: S310 - the operator picks the URL
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urlopen(request, timeout=20) as response:  # noqa: S310
            body: str = response.read().decode("utf-8", "replace")
    except HTTPError as exc:
        body = exc.read().decode("utf-8", "replace")
        if not body.startswith(("CON ", "END ")):
            raise PhoneError(f"HTTP {exc.code} from the gateway") from exc
    except (URLError, OSError) as exc:
        where = urlsplit(url)  # host and port only: the path holds the webhook token
        raise PhoneError(f"cannot reach {where.hostname}:{where.port or 80}: "
                         f"{exc.__class__.__name__}") from exc
    if not body.startswith(("CON ", "END ")):
        raise PhoneError("the reply does not start with CON or END: a phone would hang up")
    return body


def frame(body: str, width: int = 32) -> str:
    """The screen as a basic phone shows it: wrapped, in a box, with its length."""
    lines: list[str] = []
    for raw in body[4:].split("\n"):
        rest = raw
        while len(rest) > width:
            cut = rest.rfind(" ", 0, width + 1)
            cut = cut if cut > 0 else width
            lines.append(rest[:cut])
            rest = rest[cut:].lstrip()
        lines.append(rest)
    top = "+" + "-" * (width + 2) + "+"
    inner = [f"| {line.ljust(width)} |" for line in lines]
    kind = "continues" if body.startswith("CON ") else "session ended"
    return "\n".join([top, *inner, top, f"  {len(body) - 4} characters, {kind}"])


def play(url: str, number: str, network: str, read: Callable[[str], str | None],
         write: Callable[[str], None]) -> int:
    """Run dials until the user quits; returns the number of hops played."""
    hops = 0
    while True:
        session_id = "SIM_" + uuid.uuid4().hex
        path: list[str] = []
        write(f"Dialling {SERVICE_CODE} (session {session_id})")
        while True:
            body = post_hop(url, session_id, number, network, "*".join(path))
            hops += 1
            write(frame(body))
            if body.startswith("END "):
                break
            line = read("> ")
            if line is None or line.strip().lower() == "q":
                write("(hung up: the next dial can continue this session)")
                break
            path.extend(part.strip() for part in line.split("*"))
        again = read("Dial again? [Enter = yes, q = quit] ")
        if again is None or again.strip().lower() == "q":
            return hops
