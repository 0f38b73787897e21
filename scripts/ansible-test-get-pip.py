# Stands in for pip's get-pip.py, which ansible-test downloads from a host outside PyPI to bootstrap
# pip into each sanity test's virtual environment (created without pip): pip from the Python's own
# ensurepip (Debian's python3-venv), then the packages ansible-test asks for, from PyPI.
# scripts/setup test puts it where ansible-test caches the script, then primes the environments.
import subprocess
import sys

subprocess.check_call([sys.executable, '-m', 'ensurepip', '--default-pip'], stdout=subprocess.DEVNULL)
options = [argument for argument in sys.argv[1:] if argument not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'pip', 'install', '--disable-pip-version-check'] + options)
