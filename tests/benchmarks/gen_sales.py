"""Seeded sales CSV of any size, with a known share of bad rows and the job's exact expected output.

    python tests/benchmarks/gen_sales.py OUT.csv --rows 1000000 [--bad-fraction 0.05] [--seed 12]

Writes OUT.csv (the columns of data/dados_vendas.csv) in constant memory - rows are generated and
written in chunks, and per-seller totals are kept as integers (cents), so 10M rows need no more
memory than 10 - and OUT.csv.expected.json: rows_in, rows_ok, rows_rejected, the number of bad
rows of each kind, and the result file spark/processar_vendas.py must write (its exact lines:
Decimal totals, ticket_medio rounded HALF_UP, ordered by total_receita desc, vendedor asc).

Bad rows cover every reason the job rejects for (`BAD_KINDS`), each kind equally likely; a few
blank lines are added too, which are not rows at all (Spark's CSV reader skips them, and so must
the job's rows_in). Same seed, same arguments -> the same bytes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

HEADER = "data,produto,quantidade,preco_unitario,vendedor"
RESULT_HEADER = "vendedor,total_quantidade,total_receita,total_transacoes,ticket_medio"
SELLERS = ("Ana Silva", "João Santos", "Maria Costa", "Bia Souza", "Caio Lima", "Davi Rocha",
           "Érica Nunes", "Fábio Alves", "Gil Prado", "Helena Dias", "Íris Melo", "Júlio Reis")
PRODUCTS = ("Notebook", "Mouse", "Teclado", "Monitor", "Cabo HDMI", "Webcam", "Headset", "SSD")
DATES = tuple(f"2025-09-{d:02d}" for d in range(1, 31))
CHUNK = 10_000
#: One blank line (not a row) per this many rows, on average.
BLANK_EVERY = 5_000

Fields = list[str]

#: Each kind of bad row: how to spoil a good row's fields (data, produto, quantidade,
#: preco_unitario, vendedor), named after the reason the job gives for it.
BAD_KINDS: dict[str, Callable[[Fields, random.Random], Fields]] = {
    "missing data": lambda f, r: ["", *f[1:]],
    "missing produto": lambda f, r: [f[0], "", *f[2:]],
    "missing quantidade": lambda f, r: [*f[:2], "", *f[3:]],
    "missing preco_unitario": lambda f, r: [*f[:3], "", f[4]],
    "missing vendedor": lambda f, r: [*f[:4], r.choice(("", "   "))],
    "data is not a valid date": lambda f, r: [r.choice(("01/09/2025", "2025-02-30", "ontem")),
                                              *f[1:]],
    "quantidade is not a whole number": lambda f, r: [*f[:2], r.choice(("cinco", "2.5", "1e3")),
                                                      *f[3:]],
    "quantidade is negative": lambda f, r: [*f[:2], "-" + str(r.randint(1, 9)), *f[3:]],
    "preco_unitario is not a number": lambda f, r: [*f[:3], r.choice(("abc", "R$ 5", "1e3")),
                                                    f[4]],
    "preco_unitario is negative": lambda f, r: [*f[:3], f"-{r.randint(1, 999)}.00", f[4]],
    "preco_unitario out of range": lambda f, r: [*f[:3], "12345678901234.00", f[4]],
    "malformed row": lambda f, r: [*f, "campo-extra"] if r.random() < 0.5 else f[:2],
}


@dataclass
class Expected:
    rows_in: int = 0
    rows_ok: int = 0
    rows_rejected: int = 0
    blank_lines: int = 0
    bad_by_kind: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_KINDS, 0))
    result: list[str] = field(default_factory=list)  # the job's output part, line by line


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def result_lines(totals: dict[str, list[int]]) -> list[str]:
    """The job's result part from per-seller [quantity, revenue in cents, transactions]."""
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1][1], kv[0]))
    lines = [RESULT_HEADER]
    for seller, (qty, cents, n) in ordered:
        ticket = (Decimal(cents) / Decimal(100) / n).quantize(Decimal("0.01"), ROUND_HALF_UP)
        lines.append(f"{seller},{qty},{_money(cents)},{n},{ticket}")
    return lines


def generate(path: Path, rows: int, *, bad_fraction: float = 0.05, seed: int = 12) -> Expected:
    """Write `rows` rows (plus a header and some blank lines) to `path`; return what the job
    must report and write for it."""
    if rows < 0 or not 0.0 <= bad_fraction <= 1.0:
        raise ValueError(f"need rows >= 0 and 0 <= bad_fraction <= 1, got {rows}, {bad_fraction}")
    rng = random.Random(seed)
    expected = Expected(rows_in=rows)
    totals: dict[str, list[int]] = {}
    kinds = list(BAD_KINDS.items())
    with path.open("w", encoding="utf-8", newline="\n") as out:
        out.write(HEADER + "\n")
        written = 0
        while written < rows:
            lines = []
            chunk = min(CHUNK, rows - written)
            for _ in range(chunk):
                qty = rng.randint(0, 20)
                cents = rng.randint(0, 500_000)
                seller = rng.choice(SELLERS)
                fields = [rng.choice(DATES), rng.choice(PRODUCTS), str(qty), _money(cents), seller]
                if rng.random() < bad_fraction:
                    kind, spoil = kinds[rng.randrange(len(kinds))]
                    fields = spoil(fields, rng)
                    expected.bad_by_kind[kind] += 1
                    expected.rows_rejected += 1
                else:
                    t = totals.setdefault(seller, [0, 0, 0])
                    t[0] += qty
                    t[1] += qty * cents
                    t[2] += 1
                    expected.rows_ok += 1
                lines.append(",".join(fields))
                if rng.randrange(BLANK_EVERY) == 0:
                    lines.append(rng.choice(("", "  ", "\t")))
                    expected.blank_lines += 1
            out.write("\n".join(lines) + "\n")
            written += chunk
    expected.result = result_lines(totals)
    return expected


def expected_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + ".expected.json")


def load_expected(csv_path: Path) -> Expected:
    return Expected(**json.loads(expected_path(csv_path).read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="CSV to write (and OUT.expected.json beside it)")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--bad-fraction", type=float, default=0.05,
                        help="share of bad rows, spread over every kind the job rejects")
    parser.add_argument("--seed", type=int, default=12)
    args = parser.parse_args(argv)
    expected = generate(args.out, args.rows, bad_fraction=args.bad_fraction, seed=args.seed)
    expected_path(args.out).write_text(json.dumps(asdict(expected), indent=1, ensure_ascii=False),
                                       encoding="utf-8")
    print(f"{args.out}: {args.rows} rows ({expected.rows_ok} ok, {expected.rows_rejected} bad, "
          f"{expected.blank_lines} blank lines), {args.out.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
