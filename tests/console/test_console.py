"""End-to-end test of the web console in a real headless Chromium.

Runs the real `hydrogen dev` binary (simulated Mesos master, memory store)
on OS-picked loopback ports, with an API token, and drives Debian's
chromium through Debian's chromedriver (selenium never downloads a driver:
the Service names the executable). The scenario: load the page, give the
token it asks for, deploy an app through the editor, see its tasks turn
RUNNING from the SSE watch, scale it, edit and update it (a rolling update),
see an app that cannot be placed wait and why (and its status change arrive
on the watch with no request), filter and search the list,
see a bad spec's error at its field, kill it. Every wait polls the DOM with a deadline.

Environment: HYDROGEN_BIN (default target/debug/hydrogen), CHROMEDRIVER
(default /usr/bin/chromedriver), CHROMIUM (default /usr/bin/chromium),
CONSOLE_SCREENSHOTS (a directory: save the README's screenshots there).
Run with `make test-console`. The server's log is left in
target/console-test-hydrogen.log.
"""

import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BIN = os.environ.get("HYDROGEN_BIN", os.path.join(TARGET, "debug", "hydrogen"))
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")
TOKEN = "console-test-token"
# Two busy cores: generous, since a deadline only bounds a failure.
DEADLINE = 60.0
# Keys the State answer adds to an app's spec.
STATE_KEYS = {"state", "version", "config_version", "goal", "running", "tasks", "status",
              "created_ms", "updated_ms"}


def wait_for(what, probe, deadline=DEADLINE):
    """Polls `probe` until it returns something truthy; fails naming `what`."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        try:
            value = probe()
            if value:
                return value
        except (StaleElementReferenceException, WebDriverException) as e:
            last = e
        time.sleep(0.1)
    raise AssertionError(f"timed out after {deadline}s waiting for {what} (last error: {last})")


# WCAG 2 relative luminance and contrast of each element that holds text
# directly, against the first opaque background up its ancestors.
CONTRAST_JS = r"""
function rgb(c) { const m = c.match(/[\d.]+/g).map(Number); return m.length > 3 ? m : m.concat([1]); }
function lum([r, g, b]) {
  const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}
function bg(el) {
  for (let e = el; e; e = e.parentElement) {
    const c = rgb(getComputedStyle(e).backgroundColor);
    if (c[3] >= 1) return c;
  }
  return [255, 255, 255, 1];
}
const low = [];
for (const el of document.querySelectorAll("body *")) {
  if (!el.offsetParent && el.tagName !== "BODY") continue;
  const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
  if (!own) continue;
  const st = getComputedStyle(el);
  if (st.visibility === "hidden") continue;
  const a = lum(rgb(st.color)), b = lum(bg(el));
  const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) low.push(`${el.tagName}#${el.id}.${el.className}: ${ratio.toFixed(2)} "${el.textContent.trim().slice(0, 30)}"`);
}
return low;
"""


class Hydrogen:
    """`hydrogen dev` on OS-picked ports; `base` once it listens."""

    def __init__(self):
        # The server's log, for when a step fails.
        self.log_path = os.path.join(TARGET, "console-test-hydrogen.log")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [BIN, "dev", "--listen", "127.0.0.1:0", "--sim-listen", "127.0.0.1:0", "--agents", "5",
             "--api-token", TOKEN],
            stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.base = None
        self.sim = None
        found = threading.Event()

        def read():
            for line in self.proc.stdout:
                m = re.match(r"simulated mesos master on (http://\S+)", line)
                if m:
                    self.sim = m.group(1)
                m = re.match(r"listening on (http://\S+)", line)
                if m:
                    self.base = m.group(1)
                    found.set()
        threading.Thread(target=read, daemon=True).start()
        if not found.wait(DEADLINE):
            self.stop()
            raise AssertionError(f"hydrogen dev did not print `listening on` in time: see {self.log_path}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class Proxy:
    """A TCP relay between the browser and the server, to cut the network:
    `down()` closes every relayed connection and refuses new ones until
    `up()`. The browser sees what a dropped connection looks like."""

    def __init__(self, target):
        host, port = target.removeprefix("http://").rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.base = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.open = set()
        self.is_up = True
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                if not self.is_up:
                    client.close()
                    continue
                server = socket.create_connection(self.target)
                self.open.update([client, server])
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    def pipe(self, src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def down(self):
        with self.lock:
            self.is_up = False
            for sock in self.open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self.open.clear()

    def up(self):
        with self.lock:
            self.is_up = True

    def close(self):
        self.down()
        self.listener.close()


class ConsoleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Hydrogen()
        cls.proxy = Proxy(cls.server.base)
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for arg in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--window-size=1280,860", "--force-device-scale-factor=1"]:
            options.add_argument(arg)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        try:
            cls.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        except Exception:
            cls.server.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        cls.driver.quit()
        cls.proxy.close()
        cls.server.stop()

    def find(self, css):
        return self.driver.find_element(By.CSS_SELECTOR, css)

    def finds(self, css):
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def shot(self, name, width=1280):
        if not SHOTS:
            return
        os.makedirs(SHOTS, exist_ok=True)
        self.driver.set_window_size(width, 860)
        self.driver.execute_script("window.scrollTo(0, 0)")
        self.driver.save_screenshot(os.path.join(SHOTS, name))
        self.driver.set_window_size(1280, 860)

    def check_contrast(self):
        """Every visible text on the page has a WCAG contrast of 4.5:1 or
        more against the background it sits on (computed by the browser)."""
        low = self.driver.execute_script(CONTRAST_JS)
        self.assertEqual(low, [], "text below 4.5:1 contrast")

    def check_narrow(self):
        """At 375 px nothing makes the page scroll sideways (wide tables
        scroll inside their own box)."""
        d = self.driver
        d.set_window_size(375, 860)
        try:
            wait_for("the narrow layout", lambda: d.execute_script("return window.innerWidth") <= 375)
            overflow = d.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            self.assertLessEqual(overflow, 0, "the page scrolls sideways at 375 px")
        finally:
            d.set_window_size(1280, 860)

    def rest(self, method, path, body=None):
        """The REST API straight from the test (not through the page)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.server.base + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + TOKEN})
        with urllib.request.urlopen(req, timeout=DEADLINE) as resp:
            return json.loads(resp.read())

    def set_editor(self, value):
        ed = self.find("#editor")
        ed.clear()
        ed.send_keys(value)

    def running_tasks(self):
        """Ids of the RUNNING rows, read in one script: the page re-renders
        on every event, so element handles go stale between calls."""
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#tasks-body tr[data-state=\"TASK_RUNNING\"]')]"
            ".map(r => r.dataset.task)")

    def listed(self):
        return self.driver.execute_script(
            "return [...document.querySelectorAll('#apps-body tr')].map(r => r.dataset.app)")

    def app_row(self, name):
        """(state, text) of an app's row in the list, or None."""
        return self.driver.execute_script(
            "const r = document.querySelector(`#apps-body tr[data-app=\"${arguments[0]}\"]`);"
            "return r ? [r.dataset.state, r.innerText] : null", name)

    def test_console_deploy_watch_scale_invalid_kill(self):
        d = self.driver
        d.get(self.proxy.base + "/ui/")

        # The token: the first data request answers 401 and the page asks.
        wait_for("the token dialog", lambda: self.find("#token-dialog").get_attribute("open") is not None)
        self.assertFalse(self.find("#token-error").is_displayed(), "no token was refused yet")
        # A wrong token is refused and asked for again.
        self.find("#token-input").send_keys("not-the-token")
        self.find("#token-save").click()
        wait_for("the refusal", lambda: self.find("#token-error").is_displayed())
        self.assertIsNotNone(self.find("#token-dialog").get_attribute("open"))
        self.find("#token-input").send_keys(TOKEN)
        self.find("#token-save").click()
        wait_for("the live watch", lambda: self.find("#cl-live").text == "live")
        wait_for("the cluster panel", lambda: self.find("#cl-epoch").text == "1")
        self.assertEqual(self.find("#cl-subscribed").text, "yes")
        self.assertIn("127.0.0.1", self.find("#cl-master").text)
        self.assertTrue(d.execute_script("return sessionStorage.getItem('hydrogen.token')") == TOKEN)

        # Deploy through the editor.
        self.find("#nav-deploy").click()
        wait_for("the editor", lambda: self.find("#editor").is_displayed())
        self.set_editor(json.dumps({"name": "web", "instances": 2,
                                    "resources": {"cpu": 0.1, "mem": 32, "ports": 1},
                                    "command": {"cmd": "sleep 3600"},
                                    "strategy": {"type": "unique"}}))
        self.find("#deploy-button").click()
        wait_for("the app page", lambda: d.current_url.endswith("#/app/web"))
        # RUNNING arrives through the SSE watch: the timeline only ever shows
        # watch events, and the page refreshes on them (it never polls).
        wait_for("two RUNNING tasks", lambda: len(self.running_tasks()) == 2)
        wait_for("RUNNING events in the timeline",
                 lambda: len(self.finds('#timeline li[data-app="web"][data-state="TASK_RUNNING"]')) >= 2)
        wait_for("the running badge", lambda: self.find("#app-title").get_attribute("data-state") == "running")
        # Each task shows the host port it holds (the simulated agents offer
        # ports 31000-32000), not what the spec asks for.
        ports = [row.find_elements(By.CSS_SELECTOR, "td")[5].text
                 for row in self.finds("#tasks-body tr")]
        self.assertEqual(len(ports), 2, ports)
        self.assertTrue(all(re.fullmatch(r"\d+", p) and 31000 <= int(p) <= 32000 for p in ports), ports)

        # Scale to 3.
        scale = self.find("#scale-input")
        scale.clear()
        scale.send_keys("3")
        self.find("#scale-button").click()
        wait_for("three RUNNING tasks", lambda: len(self.running_tasks()) == 3)
        wait_for("three RUNNING events in the timeline",
                 lambda: len(self.finds('#timeline li[data-app="web"][data-state="TASK_RUNNING"]')) >= 3)

        # Resume: the network drops and the watch with it; a scale to 4 made
        # elsewhere launches slot 3 meanwhile; when the network is back the
        # watch resumes from the last event it saw (Last-Event-ID) and the
        # timeline gets slot 3's events, which a watch from the head would
        # never show.
        self.proxy.down()
        wait_for("the watch to drop", lambda: self.find("#cl-live").text == "reconnecting")
        state = self.rest("GET", "/v1/api/app?name=web")
        spec = {k: v for k, v in state.items() if k not in STATE_KEYS}
        spec["instances"] = 4
        self.rest("PUT", "/v1/api/app", spec)
        wait_for("slot 3 RUNNING on the server", lambda: any(
            t["instance"] == 3 and t["state"] == "TASK_RUNNING"
            for t in self.rest("GET", "/v1/api/app?name=web")["tasks"]))
        self.proxy.up()
        wait_for("the watch to resume", lambda: self.find("#cl-live").text == "live")
        for st in ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING"]:
            wait_for(f"slot 3's {st} event after the reconnect", lambda: self.finds(
                f'#timeline li[data-app="web"][data-instance="3"][data-state="{st}"]'))
        revisions = d.execute_script(
            "return [...document.querySelectorAll('#timeline li')].map(li => li.dataset.revision)")
        self.assertEqual(len(revisions), len(set(revisions)), "no event is shown twice")
        wait_for("four RUNNING tasks", lambda: len(self.running_tasks()) == 4)

        # Edit and update: a new command rolls every slot to the new spec.
        old_ids = set(self.running_tasks())
        self.find("#edit-button").click()
        wait_for("the spec in the editor", lambda: '"sleep 3600"' in self.find("#editor").get_attribute("value"))
        spec = json.loads(self.find("#editor").get_attribute("value"))
        self.assertNotIn("tasks", spec, "the editor holds the spec, not the State answer")
        spec["command"]["cmd"] = "sleep 7200"
        self.set_editor(json.dumps(spec, indent=2))
        self.find("#update-button").click()
        wait_for("the app page", lambda: d.current_url.endswith("#/app/web"))
        wait_for("three RUNNING tasks of the new spec",
                 lambda: len([t for t in self.running_tasks() if t not in old_ids]) == 4)
        wait_for("the update to finish", lambda: "No rolling update" in self.find("#rollout").text)
        self.assertIn("sleep 7200", self.find("#spec").text)

        # A task fails (the simulated agent says so): the page lists it with
        # Mesos's reason, and the slot is relaunched.
        victim = self.rest("GET", "/v1/api/app?name=web")["tasks"][0]
        req = urllib.request.Request(f"{self.server.sim}/sim/tasks/{victim['id']}/fail",
                                     data=b'{"message": "boom"}', method="POST")
        urllib.request.urlopen(req, timeout=DEADLINE).close()
        wait_for("the failure in the ended tasks", lambda: "REASON_COMMAND_EXECUTOR_FAILED" in self.find("#failures").text)
        self.assertIn("boom", self.find("#failures").text)
        wait_for("TASK_FAILED in the timeline",
                 lambda: self.finds('#timeline li[data-app="web"][data-state="TASK_FAILED"]'))
        wait_for("the slot relaunched", lambda: len(self.running_tasks()) == 4)
        # Until a relaunched task has stayed up a while (60 s by default),
        # the scheduler still counts the failure: the app is failing.
        wait_for("the failing badge", lambda: self.find("#app-title").get_attribute("data-state") == "failing")
        wait_for("why it is failing", lambda: "since the app last stayed up" in self.find("#pending").text)
        self.shot("app.png")

        # An app no agent can hold waits, and its page says why.
        self.find("#nav-deploy").click()
        wait_for("the editor", lambda: self.find("#editor").is_displayed())
        self.set_editor(json.dumps({"name": "huge", "instances": 1,
                                    "resources": {"cpu": 512, "mem": 32},
                                    "command": {"cmd": "sleep 3600"}}))
        self.find("#deploy-button").click()
        wait_for("the huge app's page", lambda: d.current_url.endswith("#/app/huge"))
        wait_for("the waiting badge", lambda: self.find("#app-title").get_attribute("data-state") == "waiting")
        wait_for("why it waits", lambda: "cpu" in self.find("#pending").text)
        self.shot("app-waiting.png")

        # Statuses arrive on the watch, not by polling. Another client scales the stuck app: the page shows the new
        # count, and the scheduler's new account of it reaches the page as a
        # status event on the watch (a refresh that other traffic triggers
        # may draw it first; the event must come all the same).
        self.rest("PUT", "/v1/api/app", {"name": "huge", "instances": 2,
                                         "resources": {"cpu": 512, "mem": 32},
                                         "command": {"cmd": "sleep 3600"}})
        wait_for("the new waiting count",
                 lambda: "2 instances waiting" in self.find("#pending").text)
        wait_for("the status event on the watch",
                 lambda: d.execute_script("return (window.watchedStatuses || {}).huge") == 2)
        # The cluster panel follows the watch too (it opened with the
        # current cluster): subscribed, from the store.
        self.assertEqual(self.find("#cl-subscribed").get_attribute("data-subscribed"), "true")

        # The apps list shows both with their counts and states, filterable.
        self.find("#nav-apps").click()
        # The list converges on the server's counts (it reads them afresh
        # when shown): the relaunched slot is RUNNING there too.
        state, text = wait_for("the app's row with four running", lambda: (
            lambda row: row if row and "4 / 4 / —" in row[1] else None)(self.app_row("web")))
        # Failing while the failure counts (see above), running after.
        self.assertIn(state, ("failing", "running"))
        wait_for("the huge app's row", lambda: (self.app_row("huge") or [None])[0] == "waiting")
        self.shot("apps.png")
        self.shot("apps-narrow.png", width=375)
        self.check_contrast()
        self.check_narrow()
        Select(self.find("#filter")).select_by_value("waiting")
        wait_for("the filter", lambda: self.listed() == ["huge"])
        Select(self.find("#filter")).select_by_value("")
        self.find("#search").send_keys("we")
        wait_for("the search", lambda: self.listed() == ["web"])

        # A bad spec: the API's 400 is shown at its field.
        self.find("#nav-deploy").click()
        wait_for("the editor", lambda: self.find("#editor").is_displayed())
        self.set_editor(json.dumps({"name": "bad", "instances": 1,
                                    "resources": {"cpu": -1, "mem": 32},
                                    "command": {"cmd": "sleep 1"}}, indent=2))
        self.find("#deploy-button").click()
        item = wait_for("the field error",
                        lambda: self.finds('#editor-errors li[data-field="resources.cpu"]'))[0]
        self.assertIn("must be > 0", item.text)
        self.assertEqual(self.find("#editor").get_attribute("aria-invalid"), "true")
        selected = d.execute_script(
            "const e = document.getElementById('editor'); return e.value.slice(e.selectionStart, e.selectionEnd)")
        self.assertEqual(selected, '"cpu"')
        self.shot("deploy-error.png")
        # Nothing was deployed.
        self.assertFalse(d.execute_script("return ui.apps.some(a => a.name === 'bad')"))

        # Kill, confirming in the dialog.
        d.get(self.proxy.base + "/ui/#/app/web")
        wait_for("the app page", lambda: len(self.running_tasks()) == 4)
        # From the keyboard: Enter opens the confirmation, focus starts on
        # Cancel, Escape closes it, and nothing is killed.
        self.find("#kill-button").send_keys(Keys.ENTER)
        wait_for("the kill dialog", lambda: self.find("#kill-dialog").get_attribute("open") is not None)
        self.assertEqual(d.switch_to.active_element.get_attribute("id"), "kill-cancel")
        d.switch_to.active_element.send_keys(Keys.ESCAPE)
        wait_for("the dialog to close", lambda: self.find("#kill-dialog").get_attribute("open") is None)
        web = self.rest("GET", "/v1/api/app?name=web")
        self.assertEqual(web["goal"], "RUN")
        self.assertEqual(len([t for t in web["tasks"] if t["state"] == "TASK_RUNNING"]), 4)
        self.find("#kill-button").click()
        wait_for("the kill dialog", lambda: self.find("#kill-dialog").get_attribute("open") is not None)
        self.find("#kill-confirm").click()
        wait_for("the app to go",
                 lambda: "does not exist" in self.find("#app-summary").text)
        wait_for("KILLED events in the timeline",
                 lambda: len(self.finds('#timeline li[data-app="web"][data-state="TASK_KILLED"]')) >= 4)

        # The 401, 400 and 404 answers are logged by the network layer and
        # expected; a script error is not.
        severe = [e for e in d.get_log("browser") if e.get("level") == "SEVERE"
                  and e.get("source") != "network"]
        self.assertEqual(severe, [], "the page logged script errors")


if __name__ == "__main__":
    unittest.main(verbosity=2, argv=[sys.argv[0]])
