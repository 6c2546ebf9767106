"""A TAK client built on PyTAK (a real TAK client library): connects to a CoT TCP server,
authenticates in its first event, pings, sends its position twice, and prints as JSON every
event it receives within the given number of seconds.

usage: tak_client.py <cot-url> <token> <uid> <seconds>
"""

import asyncio
import configparser
import json
import sys
import time
import xml.etree.ElementTree as ET

import pytak


def own_position(uid, token):
    ev = pytak.cot_event(lat=36.39, lon=38.90, uid=uid, cot_type="a-f-G-U-C", callsign=uid, stale=120)
    detail = ev.find("detail")
    if detail is None:
        detail = ET.SubElement(ev, "detail")
    if token:
        ET.SubElement(detail, "limes", token=token)
    return ET.tostring(ev)


async def main(url, token, uid, seconds):
    cfg = configparser.ConfigParser()
    cfg["tak"] = {"COT_URL": url}
    cfg = cfg["tak"]
    reader, writer = await pytak.protocol_factory(cfg)
    txq, rxq = asyncio.Queue(), asyncio.Queue()
    tasks = [
        asyncio.create_task(pytak.TXWorker(txq, cfg, writer).run()),
        asyncio.create_task(pytak.RXWorker(rxq, cfg, reader).run()),
    ]
    await txq.put(own_position(uid, token))
    ping = pytak.cot_event(lat=0, lon=0, uid=uid + "-ping", cot_type="t-x-c-t", stale=20)
    await txq.put(ET.tostring(ping))
    got, second_sa = [], False
    start = time.time()
    while time.time() - start < seconds:
        if not second_sa and time.time() - start > 5:
            await txq.put(own_position(uid, None))
            second_sa = True
        try:
            data = await asyncio.wait_for(rxq.get(), timeout=0.2)
        except asyncio.TimeoutError:
            continue
        text = data.decode("utf-8")
        root = ET.fromstring(text[text.index("<event"):])
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
            "emergency": detail is not None and detail.find("emergency") is not None,
            "closed": text.rstrip().endswith("</event>"),
        })
    for t in tasks:
        t.cancel()
    print(json.dumps(got))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])))
