"""PySide6 6.12.0 leaked a reference to True per signal delivered to a Python slot and aborted the
process after a few thousand emits (bool_dealloc). This fails if an upgrade brings that back."""
import subprocess
import sys

SCRIPT = """
import os
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PySide6.QtCore import QCoreApplication, QObject, Signal

class Emitter(QObject):
    fired = Signal(object)
    flag = Signal(bool)

app = QCoreApplication([])
emitter = Emitter()
received = []
emitter.fired.connect(lambda value: received.append(value is not None))
emitter.flag.connect(lambda value: received.append(value))
for i in range(10_000):
    emitter.fired.emit(i)
    emitter.flag.emit(True)
print(len(received), all(received))
"""


def test_ten_thousand_signals_reach_python_slots_without_crashing():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["20000", "True"]
