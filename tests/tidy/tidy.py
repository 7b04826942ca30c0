#!/usr/bin/env python3
"""tidy: the style rules of docs/STYLE.md that a machine can check (after TigerBeetle's tidy.zig).

Checks, over the C sources under --root (the fixture tree excepted):
  function-length  every function at most 70 lines, signature to closing brace
  line-length      every line at most 100 columns
  assert           no assert() or <assert.h>: the project asserts with DC_ASSERT()
  hot-call         no malloc/calloc/realloc/clock_gettime/pthread_mutex* in the --hot files
  hot-log          no log call in the --hot files but DC_LOG_RATELIMIT
  header           every header opens with a comment that says its job; in the libraries'
                   folders (--thread-dir) that comment also says which threads may call it
  prefix           every external symbol that a --lib PREFIX=LIBRARY.a defines starts with PREFIX
                   (read with nm --defined-only --extern-only)
An allow-list file (--allow) holds "RULE PATH[:NAME]" lines for known violations; an entry that
no longer matches anything is itself reported, so the list can only shrink.
Exit status: 0 clean, 1 violations, 2 bad usage.
"""
import argparse
import os
import re
import subprocess
import sys

FUNCTION_LINES_MAX = 70
LINE_COLUMNS_MAX = 100
HOT_BANNED = re.compile(r'\b(malloc|calloc|realloc|clock_gettime|pthread_mutex\w*)\s*\(')
HOT_LOG = re.compile(r'\b(DC_DEBUG|DC_INFO|DC_WARN|DC_ERROR|dc_log)\s*\(')
ASSERT = re.compile(r'(?<![\w])assert\s*\(|#\s*include\s*<assert\.h>')
THREADS = re.compile(r'thread', re.IGNORECASE)


def strip_c(text):
    """The text with comments and string/char literals blanked, line breaks kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith('/*', i):
            end = text.find('*/', i + 2)
            end = n if end < 0 else end + 2
            out.append(re.sub(r'[^\n]', ' ', text[i:end]))
            i = end
        elif text.startswith('//', i):
            end = text.find('\n', i)
            end = n if end < 0 else end
            out.append(' ' * (end - i))
            i = end
        elif c in '"\'':
            j = i + 1
            while j < n and text[j] != c and text[j] != '\n':
                j += 2 if text[j] == '\\' else 1
            j = min(j + 1, n)
            out.append(c + ' ' * (j - i - 2) + c if j - i >= 2 else text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return ''.join(out)


def functions(code_lines):
    """(name, first line, last line), 1-based, of each function definition."""
    found = []
    i = 0
    while i < len(code_lines):
        line = code_lines[i].rstrip()
        opens = line == '{' or (re.match(r'^[A-Za-z_].*\)\s*\{$', line) and '=' not in line)
        if not opens:
            i += 1
            continue
        start = i if line != '{' else i - 1
        while start > 0 and code_lines[start - 1].strip() and \
                not re.search(r'[;}]\s*$', code_lines[start - 1]) and \
                not code_lines[start - 1].lstrip().startswith('#'):
            start -= 1
        end = i + 1
        while end < len(code_lines) and code_lines[end].rstrip() != '}':
            end += 1
        head = ' '.join(code_lines[start:i + 1])
        m = re.search(r'(\w+)\s*\(', head)
        found.append((m.group(1) if m else '?', start + 1, end + 1))
        i = end + 1
    return found


def check_source(rel, text, hot, thread_dirs, report):
    code = strip_c(text)
    lines, code_lines = text.split('\n'), code.split('\n')
    for no, line in enumerate(lines, 1):
        if len(line) > LINE_COLUMNS_MAX:
            report('line-length', rel, None, no, f'{len(line)} columns (max {LINE_COLUMNS_MAX})')
    for no, line in enumerate(code_lines, 1):
        raw = lines[no - 1]
        if ASSERT.search(line) or re.search(r'#\s*include\s*<assert\.h>', raw):
            report('assert', rel, None, no, 'assert(): use DC_ASSERT()')
        if rel in hot and HOT_BANNED.search(line):
            report('hot-call', rel, None, no, HOT_BANNED.search(line).group(1) + '() in a hot file')
        if rel in hot and HOT_LOG.search(line):
            report('hot-log', rel, None, no, 'log without DC_LOG_RATELIMIT in a hot file')
    if rel.endswith('.c'):
        for name, first, last in functions(code_lines):
            count = last - first + 1
            if count > FUNCTION_LINES_MAX:
                report('function-length', rel, name, first,
                       f'{name}() is {count} lines (max {FUNCTION_LINES_MAX})')
    if rel.endswith('.h'):
        m = re.match(r'\s*/\*(.*?)\*/', text, re.DOTALL)
        if m is None or len(m.group(1).strip(' \n*')) == 0:
            report('header', rel, None, 1, 'no opening comment saying what the module does')
        elif rel.split('/')[0] in thread_dirs and not THREADS.search(m.group(1)):
            report('header', rel, None, 1, 'opening comment does not say which threads call it')


def check_library(prefix, lib, report):
    try:
        out = subprocess.run(['nm', '--defined-only', '--extern-only', lib], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        report('prefix', lib, None, 0, f'cannot read symbols: {e}')
        return
    symbols = [f.split()[2] for f in out.splitlines() if len(f.split()) == 3]
    if not symbols:
        report('prefix', lib, None, 0, 'no external symbols read: wrong file?')
    for sym in sorted(set(symbols)):
        # __odr_asan.*, __asan_*, __sancov_*: what the sanitizer build adds, not our names
        if sym.startswith('__'):
            continue
        if not sym.startswith(prefix):
            report('prefix', os.path.basename(lib), sym, 0, f'{sym} lacks the prefix {prefix}')


def sources(root, dirs, skip):
    for d in dirs:
        for top, subdirs, files in os.walk(os.path.join(root, d)):
            subdirs[:] = sorted(s for s in subdirs
                                if os.path.relpath(os.path.join(top, s), root) not in skip)
            for f in sorted(files):
                if f.endswith(('.c', '.h')):
                    path = os.path.join(top, f)
                    yield os.path.relpath(path, root), path


def load_allow(path):
    allow = {}
    if path is None:
        return allow
    with open(path) as f:
        for no, line in enumerate(f, 1):
            line = line.split('#', 1)[0].strip()
            if line:
                rule, _, what = line.partition(' ')
                allow[(rule, what.strip())] = no
    return allow


def main():
    ap = argparse.ArgumentParser(description='dchat style checks (docs/STYLE.md)')
    ap.add_argument('--root', required=True, help='source tree to check')
    ap.add_argument('--dir', action='append', default=[], help='folder under root to scan')
    ap.add_argument('--skip', action='append', default=[], help='folder under root to skip')
    ap.add_argument('--hot', action='append', default=[], help='hot-path file under root')
    ap.add_argument('--thread-dir', action='append', default=[],
                    help='folder whose headers must say which threads call them')
    ap.add_argument('--lib', action='append', default=[], help='PREFIX=path/to/lib.a')
    ap.add_argument('--allow', help='allow-list file')
    args = ap.parse_args()
    for h in args.hot:
        if not os.path.isfile(os.path.join(args.root, h)):
            print(f'tidy: hot file {h} does not exist', file=sys.stderr)
            return 2
    allow = load_allow(args.allow)
    used = set()
    count = 0

    def report(rule, where, name, line, text):
        nonlocal count
        for key in ((rule, where), (rule, f'{where}:{name}')):
            if key in allow:
                used.add(key)
                return
        count += 1
        print(f'tidy: {where}:{line}: [{rule}] {text}')

    scanned = 0
    for rel, path in sources(args.root, args.dir, set(args.skip)):
        with open(path, encoding='utf-8', errors='replace') as f:
            check_source(rel, f.read(), set(args.hot), set(args.thread_dir), report)
        scanned += 1
    for spec in args.lib:
        prefix, _, lib = spec.partition('=')
        check_library(prefix, lib, report)
    for key, no in sorted(allow.items(), key=lambda kv: kv[1]):
        if key not in used:
            count += 1
            print(f'tidy: {args.allow}:{no}: [allow] "{key[0]} {key[1]}" matches nothing: '
                  'remove it')
    if scanned == 0:
        print('tidy: no C sources found: wrong --root or --dir?')
        return 2
    print(f'tidy: {scanned} files, {len(args.lib)} libraries: {count} problem(s)')
    return 1 if count else 0


if __name__ == '__main__':
    sys.exit(main())
