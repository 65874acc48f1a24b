"""What Windows does with the values our scripts hand it, for the simulated Windows of the stand-in tests.

Quoting a value soundly is not enough: four Windows rules decide what a program or a cmdlet then sees.
The simulated hosts (``windows_world``, ``windows_nebula_world``) read every value through these, so a
script that trips on one of them fails there as it would on Windows:

- **literals**: ``'it''s'`` is ``it's`` (a doubled quote inside a single-quoted literal);
- **wildcard parameters**: ``-Path`` and ``-Name`` read ``* ? [ ]`` as a pattern, with a backtick escaping
  the next character (``[WildcardPattern]::Escape`` adds those backticks); ``-LiteralPath`` does not;
- **native arguments, PowerShell 5.1**: ``& 'nginx.exe' 'a b'`` becomes one command line, each argument
  with a space or a tab wrapped in double quotes, nothing escaped inside; the program splits it again by
  the Microsoft C runtime's rules (``CommandLineToArgvW``);
- **Start-Process**: ``-ArgumentList`` elements are joined with single spaces, quoted by nobody, into the
  command line the program splits.

They follow Microsoft's documentation (about_Wildcards, about_Parsing, "Parsing C++ command-line
arguments") and should be confirmed on a real Windows host (``tests/test_windows_smoke.py``).
"""

from __future__ import annotations

import re

LITERAL = r"'((?:[^']|'')*)'"  # one single-quoted PowerShell literal, doubled quotes inside


def text(literal_body: str) -> str:
    """The value of a literal's body (what ``LITERAL`` captured)."""
    return literal_body.replace("''", "'")


def literals(source: str) -> list[str]:
    """The values of every single-quoted literal in ``source``, in order."""
    return [text(body) for body in re.findall(LITERAL, source)]


# -- wildcard parameters -------------------------------------------------------------------------
def escape(value: str) -> str:
    """``[WildcardPattern]::Escape``: a backtick before each of * ? [ ] and `."""
    return re.sub(r"([*?\[\]`])", r"`\1", value)


def wildcard(pattern: str) -> re.Pattern[str]:
    """A -Path or -Name pattern as a regex (case-insensitive, as Windows compares names)."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "`" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:  # an unclosed bracket makes the whole pattern invalid on Windows
                return re.compile(r"(?!)")
            out.append("[" + re.escape(pattern[i + 1:end]).replace(r"\-", "-") + "]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out), re.I | re.S)


def matching(pattern: str, names: list[str]) -> list[str]:
    found = wildcard(pattern)
    return [name for name in names if found.fullmatch(name)]


# -- native arguments and Start-Process ----------------------------------------------------------
def argv(command_line: str) -> list[str]:
    """``CommandLineToArgvW``'s rules for the arguments after the program name."""
    args: list[str] = []
    current, quoted, started, i = [], False, False, 0
    while i < len(command_line):
        ch = command_line[i]
        if ch == "\\":
            run = len(command_line[i:]) - len(command_line[i:].lstrip("\\"))
            if command_line[i + run:i + run + 1] == '"':
                current.append("\\" * (run // 2))
                if run % 2:
                    current.append('"')
                    i += run + 1
                else:
                    i += run
                started = True
                continue
            current.append("\\" * run)
            i += run
            started = True
            continue
        if ch == '"':
            if quoted and command_line[i + 1:i + 2] == '"':  # "" inside quotes: a literal quote
                current.append('"')
                i += 2
                continue
            quoted, started = not quoted, True
        elif ch in " \t" and not quoted:
            if started:
                args.append("".join(current))
                current, started = [], False
        else:
            current.append(ch)
            started = True
        i += 1
    if started:
        args.append("".join(current))
    return args


def native_command_line(args: list[str]) -> str:
    """PowerShell 5.1's command line for ``& program args``: an empty argument is dropped; one with a space or
    a tab is wrapped in double quotes as it is (a quote or a trailing backslash inside is not escaped)."""
    return " ".join(f'"{a}"' if " " in a or "\t" in a else a for a in args if a)


def native_argv(call: str) -> list[str]:
    """What a program called as ``& 'program' 'arg' …`` receives, after 5.1's passing and the C runtime's split."""
    found = re.search(rf"& {LITERAL}((?:\s+{LITERAL})*)", call)
    return argv(native_command_line(literals(found.group(2)))) if found else []


def start_process_argv(script: str) -> list[str]:
    """What ``Start-Process … -ArgumentList …`` hands the program: the elements joined with spaces, then split."""
    found = re.search(rf"-ArgumentList ((?:{LITERAL}\s*,\s*)*{LITERAL})", script)
    if found is None:
        return []
    return argv(" ".join(literals(found.group(1))))
