"""A TAK client built on PyTAK (a real TAK client library): connects to a CoT server,
authenticates in its first event (when given a token), pings, sends its position (with a team,
as ATAK does) twice, and
prints as JSON every event it receives until its standard input closes (or the server closes
the connection). Each frame is parsed with Python's standard XML parser exactly as split on
</event> by PyTAK, as a stock client does.

usage: tak_client.py <cot-url> <token|-> <uid>
"""

import asyncio
import configparser
import json
import sys
import xml.etree.ElementTree as ET

import pytak


def own_position(uid, token):
    ev = pytak.cot_event(lat=36.39, lon=38.90, uid=uid, cot_type="a-f-G-U-C", callsign=uid, stale=120)
    detail = ev.find("detail")
    if detail is None:
        detail = ET.SubElement(ev, "detail")
    # A team, as ATAK sends it, and its endpoint (which the relay must not pass on).
    ET.SubElement(detail, "__group", name="Cyan", role="Team Member")
    contact = detail.find("contact")
    if contact is not None:
        contact.set("endpoint", "192.0.2.7:4242:tcp")
    if token:
        ET.SubElement(detail, "limes", token=token)
    return ET.tostring(ev)


async def stdin_closed():
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)


async def main(url, token, uid):
    cfg = configparser.ConfigParser()
    cfg["tak"] = {"COT_URL": url}
    cfg = cfg["tak"]
    reader, writer = await pytak.protocol_factory(cfg)
    txq, rxq = asyncio.Queue(), asyncio.Queue()
    tasks = [
        asyncio.create_task(pytak.TXWorker(txq, cfg, writer).run()),
        asyncio.create_task(pytak.RXWorker(rxq, cfg, reader).run()),
    ]
    await txq.put(own_position(uid, token if token != "-" else None))
    ping = pytak.cot_event(lat=0, lon=0, uid=uid + "-ping", cot_type="t-x-c-t", stale=20)
    await txq.put(ET.tostring(ping))
    print("connected", file=sys.stderr, flush=True)
    got, bad, sent_second = [], [], False
    done = asyncio.create_task(stdin_closed())
    while not done.done():
        try:
            data = await asyncio.wait_for(rxq.get(), timeout=0.2)
        except asyncio.TimeoutError:
            continue
        text = data.decode("utf-8")
        try:
            root = ET.fromstring(text)
        except ET.ParseError as e:
            bad.append({"frame": text[:200], "error": str(e)})
            continue
        if not sent_second:
            await txq.put(own_position(uid, None))
            sent_second = True
        point = root.find("point")
        detail = root.find("detail")
        got.append({
            "uid": root.get("uid"),
            "type": root.get("type"),
            "how": root.get("how"),
            "time": root.get("time"),
            "stale": root.get("stale"),
            "lat": float(point.get("lat")) if point is not None else None,
            "lon": float(point.get("lon")) if point is not None else None,
            "ce": float(point.get("ce")) if point is not None else None,
            "emergency": detail is not None and detail.find("emergency") is not None,
            "limes": detail is not None and detail.find("limes") is not None,
            "group": detail.find("__group").get("name")
            if detail is not None and detail.find("__group") is not None else None,
            "endpoint": detail.find("contact").get("endpoint")
            if detail is not None and detail.find("contact") is not None else None,
        })
    for t in tasks:
        t.cancel()
    print(json.dumps({"events": got, "unparsed": bad}))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
