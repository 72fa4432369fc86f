#!/usr/bin/env python3
"""Run a SIPVicious 0.3.8 tool, optionally with another User-Agent.

usage: sv_ua.py {-|"<User-Agent>"} {svmap|svwar|svcrack} [tool args...]

`-` keeps the tool's own User-Agent (friendly-scanner). The tools have no option for it:
every request is built by sipvicious.libs.svhelper.makeRequest(...,
useragent='friendly-scanner'), whose default is patched in place here.

Running the tools' modules through python3 (not the sipvicious_* console scripts) needs no
PATH entry: pip under pyenv only creates the scripts' shims on a rehash.
"""
import importlib
import sys

import sipvicious.libs.svhelper as h

ua, tool, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if ua != "-":
    d = list(h.makeRequest.__defaults__)
    d[d.index("friendly-scanner")] = ua
    h.makeRequest.__defaults__ = tuple(d)

mod = importlib.import_module("sipvicious." + tool)
sys.argv = ["sipvicious_" + tool] + args
mod.main()
