"""Local HTTP health-check backends (the bench-backend cargo example), each its own process so
a test can kill one and start it again on the same port."""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
BACKEND = os.path.join(os.path.dirname(HERE), "target", "release", "examples", "bench-backend")


class Backend:
    def __init__(self, port=0):
        self.proc = subprocess.Popen([BACKEND, str(port)], stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def kill(self):
        self.proc.kill()
        self.proc.wait()

    def restart(self):
        self.__init__(self.port)


class Backends:
    def __init__(self, n):
        self.items = [Backend() for _ in range(n)]
        self.ports = [b.port for b in self.items]

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for b in self.items:
            if b.proc.poll() is None:
                b.kill()
