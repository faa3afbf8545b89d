#!/bin/sh
# An EMR node command, emulated: see harness/emr/node_commands.py.
exec "${HARNESS_NODE_PYTHON:-python3}" -m harness.emr.node_cli "$(basename "$0")" "$@"
