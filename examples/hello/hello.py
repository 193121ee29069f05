#!/usr/bin/env python3
"""The quick start's program: copied into the env by the Envfile's `copy` step.

  hello.py provision   what the last provisioning step writes to /opt/hello/PROVISIONED
  hello.py up          what on_up runs each time the env starts (see `devenv logs`)
  hello.py             a greeting, from inside the env
"""
import datetime
import os
import platform
import sys


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def main(argv):
    greeting = os.environ.get("GREETING", "hello")
    what = argv[1] if len(argv) > 1 else ""
    if what == "provision":
        print(f"provisioned at {now()} with Python {platform.python_version()}")
    elif what == "up":
        line = f"{greeting}: on_up ran at {now()}"
        print(line)
        with open("/opt/hello/LAST_UP", "w") as f:
            f.write(line + "\n")
    else:
        print(f"{greeting} (Python {platform.python_version()}, in {os.getcwd()})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
