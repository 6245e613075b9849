"""Build src/rewardkit/data/sql/shop.sqlite, the small database the `sql` task's bundled problems
and tests use (deterministic: same file bytes on every run with the same SQLite)."""

import sqlite3
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "src/rewardkit/data/sql/shop.sqlite"

CUSTOMERS = [(1, "Ada", "London", 2019), (2, "Bo", "Paris", 2020), (3, "Cy", "London", 2021),
             (4, "Di", "Berlin", 2020), (5, "Ed", "Paris", 2022), (6, "Flo", "Rome", 2023)]
PRODUCTS = [(1, "pen", "office", 1.5), (2, "desk", "furniture", 120.0),
            (3, "chair", "furniture", 45.25), (4, "lamp", "furniture", 19.99),
            (5, "paper", "office", 4.0), (6, "mug", "kitchen", 7.5)]
ORDERS = [(1, 1, "2024-01-05"), (2, 1, "2024-02-11"), (3, 2, "2024-02-20"), (4, 3, "2024-03-01"),
          (5, 4, "2024-03-15"), (6, 2, "2024-04-02"), (7, 5, "2024-04-20"), (8, 1, "2024-05-09")]
ITEMS = [(1, 1, 10), (1, 5, 2), (2, 2, 1), (3, 3, 2), (3, 4, 1), (4, 6, 4), (5, 2, 1),
         (5, 3, 4), (6, 1, 3), (7, 4, 2), (7, 6, 1), (8, 5, 5)]


def main() -> None:
    OUT.unlink(missing_ok=True)
    with sqlite3.connect(OUT) as c:
        c.executescript("""
            CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT,
                                    joined INTEGER);
            CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT,
                                   price REAL);
            CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES
                                 customers(id), day TEXT);
            CREATE TABLE order_items (order_id INTEGER REFERENCES orders(id), product_id INTEGER
                                      REFERENCES products(id), quantity INTEGER);
        """)
        c.executemany("INSERT INTO customers VALUES (?, ?, ?, ?)", CUSTOMERS)
        c.executemany("INSERT INTO products VALUES (?, ?, ?, ?)", PRODUCTS)
        c.executemany("INSERT INTO orders VALUES (?, ?, ?)", ORDERS)
        c.executemany("INSERT INTO order_items VALUES (?, ?, ?)", ITEMS)
    c.close()
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) with SQLite {sqlite3.sqlite_version}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
