"""The desktop side of the app smoke test, on the private D-Bus session bus (dbus-fast).

usage: desktop_peer.py serve NOTIFICATIONS.jsonl
       desktop_peer.py menu PREFIX
       desktop_peer.py click PREFIX

``serve`` plays the parts of a desktop that the app talks to, and runs until killed:
  * ``org.kde.StatusNotifierWatcher`` (at /StatusNotifierWatcher), so the app's
    libayatana-appindicator tray registers its StatusNotifierItem with us, as it does with a
    panel's tray host (a host is said to be registered);
  * ``org.freedesktop.Notifications`` (at /org/freedesktop/Notifications): every ``Notify``
    gets a new id and is appended to NOTIFICATIONS.jsonl as
    ``{"id", "app_name", "summary", "body", "at_ms"}`` (at_ms: Unix time in ms).
It prints ``READY`` once it owns both names, and one line per registered item.

``menu`` and ``click`` act like a tray host: they read the registered item's ``Menu``
property (a com.canonical.dbusmenu object), call ``AboutToShow`` and ``GetLayout``, and find
the first item whose label starts with PREFIX. ``menu`` prints it as JSON
(``{"id", "label", "enabled", "visible"}``); ``click`` also sends it
``Event(id, "clicked", <int32 0>, timestamp)``, exactly what a host does on a click, and
prints the same JSON with ``clicked_at_ms``. Exit status 1 when there is no item or no match.
"""

import asyncio
import json
import sys
import time

from dbus_fast import BusType, Message, MessageType, Variant
from dbus_fast.aio import MessageBus
from dbus_fast.service import PropertyAccess, ServiceInterface, dbus_property, method, signal

WATCHER = "org.kde.StatusNotifierWatcher"
WATCHER_PATH = "/StatusNotifierWatcher"
NOTIFICATIONS = "org.freedesktop.Notifications"
NOTIFICATIONS_PATH = "/org/freedesktop/Notifications"
ITEM = "org.kde.StatusNotifierItem"
DBUSMENU = "com.canonical.dbusmenu"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Watcher(ServiceInterface):
    """A StatusNotifierWatcher that also counts as the (one) tray host."""

    def __init__(self) -> None:
        super().__init__(WATCHER)
        self.items: list[str] = []  # "<unique bus name><object path>", as KDE's watcher lists them
        self.sender = ""  # the sender of the call being dispatched (see `remember_sender`)

    def remember_sender(self, msg: Message) -> None:
        if msg.message_type == MessageType.METHOD_CALL and msg.interface == WATCHER:
            self.sender = msg.sender or ""

    @method()
    def RegisterStatusNotifierItem(self, service: "s") -> None:  # noqa: F821
        # appindicator passes its object path; others pass a bus name (item at /StatusNotifierItem).
        entry = self.sender + service if service.startswith("/") else service + "/StatusNotifierItem"
        if entry not in self.items:
            self.items.append(entry)
            print(f"ITEM {entry}", flush=True)
            self.StatusNotifierItemRegistered(entry)

    @method()
    def RegisterStatusNotifierHost(self, service: "s") -> None:  # noqa: F821
        self.StatusNotifierHostRegistered()

    def owner_gone(self, name: str) -> None:
        for entry in [e for e in self.items if e.startswith(name + "/")]:
            self.items.remove(entry)
            print(f"ITEM GONE {entry}", flush=True)
            self.StatusNotifierItemUnregistered(entry)

    @dbus_property(access=PropertyAccess.READ)
    def RegisteredStatusNotifierItems(self) -> "as":  # noqa: F722
        return list(self.items)

    @dbus_property(access=PropertyAccess.READ)
    def IsStatusNotifierHostRegistered(self) -> "b":  # noqa: F821
        return True

    @dbus_property(access=PropertyAccess.READ)
    def ProtocolVersion(self) -> "i":  # noqa: F821
        return 0

    @signal()
    def StatusNotifierItemRegistered(self, service: str) -> "s":  # noqa: F821
        return service

    @signal()
    def StatusNotifierItemUnregistered(self, service: str) -> "s":  # noqa: F821
        return service

    @signal()
    def StatusNotifierHostRegistered(self) -> None:
        return None

    @signal()
    def StatusNotifierHostUnregistered(self) -> None:
        return None


class Notifications(ServiceInterface):
    """A notification server that shows nothing and writes down what it was asked to show."""

    def __init__(self, path: str) -> None:
        super().__init__(NOTIFICATIONS)
        self.path = path
        self.next_id = 0

    @method()
    def Notify(
        self,
        app_name: "s",  # noqa: F821
        replaces_id: "u",  # noqa: F821
        app_icon: "s",  # noqa: F821
        summary: "s",  # noqa: F821
        body: "s",  # noqa: F821
        actions: "as",  # noqa: F722
        hints: "a{sv}",  # noqa: F722
        expire_timeout: "i",  # noqa: F821
    ) -> "u":  # noqa: F821
        self.next_id += 1
        record = {"id": self.next_id, "app_name": app_name, "summary": summary, "body": body, "at_ms": now_ms()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
        print(f"NOTIFY {json.dumps(record, ensure_ascii=False)}", flush=True)
        return self.next_id

    @method()
    def GetCapabilities(self) -> "as":  # noqa: F722
        return ["body", "actions"]

    @method()
    def GetServerInformation(self) -> "ssss":  # noqa: F821
        return ["headroom-smoke", "headroom", "1", "1.2"]

    @method()
    def CloseNotification(self, id: "u") -> None:  # noqa: F821
        self.NotificationClosed(id, 3)

    @signal()
    def NotificationClosed(self, id: int, reason: int) -> "uu":  # noqa: F821
        return [id, reason]

    @signal()
    def ActionInvoked(self, id: int, action_key: str) -> "us":  # noqa: F821
        return [id, action_key]


async def call(bus: MessageBus, dest: str, path: str, interface: str, member: str, signature: str = "", body=None):
    reply = await bus.call(
        Message(destination=dest, path=path, interface=interface, member=member, signature=signature, body=body or [])
    )
    if reply.message_type == MessageType.ERROR:
        raise RuntimeError(f"{interface}.{member} on {dest}{path}: {reply.error_name}: {reply.body}")
    return reply.body


async def serve(path: str) -> None:
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    watcher = Watcher()
    bus.add_message_handler(lambda msg: watcher.remember_sender(msg))

    def on_name_owner_changed(msg: Message) -> None:
        if msg.member == "NameOwnerChanged" and msg.sender == "org.freedesktop.DBus" and msg.body[2] == "":
            watcher.owner_gone(msg.body[0])

    bus.add_message_handler(on_name_owner_changed)
    await call(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "AddMatch", "s",
               ["type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged'"])
    bus.export(WATCHER_PATH, watcher)
    bus.export(NOTIFICATIONS_PATH, Notifications(path))
    for name in (WATCHER, NOTIFICATIONS):
        await bus.request_name(name)
    watcher.StatusNotifierHostRegistered()
    print("READY", flush=True)
    await bus.wait_for_disconnect()


def find(layout, prefix: str):
    """The first (id, properties) in a GetLayout tree whose label starts with `prefix`."""
    item_id, props, children = layout
    label = props["label"].value if "label" in props else None
    # GTK labels may carry mnemonic underscores.
    if label is not None and (label.startswith(prefix) or label.replace("_", "").startswith(prefix)):
        return item_id, props
    for child in children:
        found = find(child.value, prefix)
        if found:
            return found
    return None


async def menu_item(prefix: str, click: bool) -> int:
    bus = await MessageBus(bus_type=BusType.SESSION).connect()
    [items] = await call(bus, WATCHER, WATCHER_PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                         [WATCHER, "RegisteredStatusNotifierItems"])
    items = items.value
    if not items:
        print("no StatusNotifierItem registered", file=sys.stderr)
        return 1
    service, _, rest = items[-1].partition("/")
    item_path = "/" + rest
    [menu_path] = await call(bus, service, item_path, "org.freedesktop.DBus.Properties", "Get", "ss", [ITEM, "Menu"])
    menu_path = menu_path.value
    await call(bus, service, menu_path, DBUSMENU, "AboutToShow", "i", [0])
    _revision, layout = await call(bus, service, menu_path, DBUSMENU, "GetLayout", "iias", [0, -1, []])
    found = find(layout, prefix)
    if not found:
        print(f"no menu item starts with {prefix!r} in the menu of {service}{item_path} ({menu_path})", file=sys.stderr)
        return 1
    item_id, props = found
    out = {
        "id": item_id,
        "label": props["label"].value,
        "enabled": props["enabled"].value if "enabled" in props else True,
        "visible": props["visible"].value if "visible" in props else True,
        "item": f"{service}{item_path}",
        "menu": menu_path,
    }
    if click:
        out["clicked_at_ms"] = now_ms()
        await call(bus, service, menu_path, DBUSMENU, "Event", "isvu",
                   [item_id, "clicked", Variant("i", 0), int(time.time()) & 0xFFFFFFFF])
    print(json.dumps(out, ensure_ascii=False), flush=True)
    bus.disconnect()
    return 0


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "serve":
        asyncio.run(serve(argv[1]))
        return 0
    if len(argv) == 2 and argv[0] in ("menu", "click"):
        return asyncio.run(menu_item(argv[1], argv[0] == "click"))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
