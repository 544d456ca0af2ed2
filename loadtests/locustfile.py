"""Locust journeys against a running ASOUD: browsing, search, product pages, cart, checkout,
paying through the (fake) Zarinpal, and owners handling orders. Started by slo_check.py, which
passes the seeded ids and tokens in ASOUD_LOAD_* variables. Loopback only."""

from __future__ import annotations

import json
import os
import random
from urllib.parse import urlsplit

import httpx
from locust import HttpUser, between, task

PRODUCTS: list[str] = json.loads(os.environ.get("ASOUD_LOAD_PRODUCTS", "[]"))
MARKET = os.environ.get("ASOUD_LOAD_MARKET", "")
MARKET_PRODUCTS: list[str] = json.loads(os.environ.get("ASOUD_LOAD_MARKET_PRODUCTS", "[]"))
BUYERS: list[str] = json.loads(os.environ.get("ASOUD_LOAD_BUYERS", "[]"))
OWNER = os.environ.get("ASOUD_LOAD_OWNER", "")
WORDS = ("book", "bench", "market", "poetry", "atlas")


class Browser(HttpUser):
    weight = 7
    wait_time = between(0.2, 1.0)

    @task(4)
    def catalogue(self) -> None:
        self.client.get("/api/v1/products?limit=20", name="/api/v1/products")

    @task(2)
    def search(self) -> None:
        self.client.get(f"/api/v1/products?q={random.choice(WORDS)}", name="/api/v1/products?q")

    @task(3)
    def product(self) -> None:
        self.client.get(f"/api/v1/products/{random.choice(PRODUCTS)}", name="/api/v1/products/{id}")

    @task(1)
    def markets(self) -> None:
        self.client.get("/api/v1/markets", name="/api/v1/markets")


class Buyer(HttpUser):
    """A signed-in customer: looks around, fills the cart, and buys (and pays) on a third of
    its visits: about one order per 25-30 requests overall, far heavier than a real shop (2-3 %
    of sessions of 20+ API calls, one order per 1,000 requests), so the buying path's cost
    shows in every SLO. slo_check.py prints the measured rate."""

    weight = 3
    wait_time = between(0.5, 2.0)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {random.choice(BUYERS)}"}
        self.browser = httpx.Client(timeout=10)

    @task(4)
    def look_around(self) -> None:
        self.client.get(
            f"/api/v1/products/{random.choice(MARKET_PRODUCTS)}", name="/api/v1/products/{id}"
        )
        self.client.get("/api/v1/products?limit=20&sort=popular", name="/api/v1/products")

    @task(2)
    def fill_cart(self) -> None:
        self.client.post(
            "/api/v1/cart/items",
            json={"product_id": random.choice(MARKET_PRODUCTS), "quantity": 1},
            headers=self.auth,
            name="/api/v1/cart/items",
        )
        self.client.get("/api/v1/cart", headers=self.auth, name="/api/v1/cart")

    @task(3)
    def buy_and_pay(self) -> None:
        self.client.post(
            "/api/v1/cart/items",
            json={"product_id": random.choice(MARKET_PRODUCTS), "quantity": 1},
            headers=self.auth,
            name="/api/v1/cart/items",
        )
        order = self.client.post(
            "/api/v1/checkout",
            json={"market_id": MARKET, "payment_method": "online"},
            headers=self.auth,
            name="/api/v1/checkout",
        )
        if order.status_code != 201:
            return
        session = self.client.post(
            "/api/v1/payments",
            json={"target": "order", "target_id": order.json()["id"], "gateway": "zarinpal"},
            headers=self.auth,
            name="/api/v1/payments",
        )
        if session.status_code != 201:
            return
        back = self.browser.get(session.json()["redirect_url"], params={"pay": "1"})
        callback = urlsplit(back.headers["location"])
        with self.client.get(
            f"{callback.path}?{callback.query}",
            name="/api/v1/payments/callback/zarinpal",
            allow_redirects=False,
            catch_response=True,
        ) as response:
            if response.status_code == 303:
                response.success()


class Owner(HttpUser):
    weight = 1
    wait_time = between(1.0, 3.0)

    def on_start(self) -> None:
        self.auth = {"Authorization": f"Bearer {OWNER}"}

    @task
    def handle_orders(self) -> None:
        orders = self.client.get(
            f"/api/v1/markets/{MARKET}/orders?status=paid&limit=5",
            headers=self.auth,
            name="/api/v1/markets/{id}/orders",
        )
        for order in orders.json().get("items", [])[:2] if orders.status_code == 200 else []:
            self.client.post(
                f"/api/v1/markets/{MARKET}/orders/{order['id']}/fulfil",
                headers=self.auth,
                name="/api/v1/markets/{id}/orders/{oid}/fulfil",
            )
