"""A realistic shop mail for the send-path benchmarks: a Japanese shop's cart reminder, and the
personalised data each recipient brings (a profile from identify traits, the cart from the
"Checkout Started" event that triggered the mail).

The template has what shop templates have: a <style> block (with a media query), a hidden
preheader, a loop over the cart's products with the `yen` filter, conditions, attribute insertion
with defaults; it has no unsubscribe link of its own, so tagmail adds its footer.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

SUBJECT = "{{ user.first_name | default('お客様') }}様、カートに商品が残っています"

HTML = """<!DOCTYPE html>
<html lang="ja">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>カートに商品が残っています</title>
<style>
  body { margin: 0; padding: 0; background: #f4f4f4; color: #333333;
         font-family: 'Hiragino Sans', 'Noto Sans JP', Meiryo, sans-serif; }
  .wrapper { width: 100%; background: #f4f4f4; padding: 24px 0; }
  .container { max-width: 600px; margin: 0 auto; background: #ffffff; border-radius: 6px; }
  .header { padding: 20px 24px; border-bottom: 1px solid #eeeeee; }
  .header img { display: block; height: 32px; border: 0; }
  .content { padding: 24px; font-size: 15px; line-height: 1.7; }
  h1 { font-size: 20px; margin: 0 0 16px; color: #222222; }
  .cart { width: 100%; border-collapse: collapse; margin: 16px 0; }
  .cart td { padding: 12px 8px; border-bottom: 1px solid #eeeeee; vertical-align: top; }
  .cart .thumb img { width: 80px; height: 80px; border-radius: 4px; border: 0; }
  .cart .name a { color: #222222; font-weight: bold; text-decoration: none; }
  .cart .variant { color: #888888; font-size: 13px; }
  .price { text-align: right; white-space: nowrap; }
  .total td { font-weight: bold; border-bottom: none; }
  .notice { background: #fff8e1; padding: 12px 16px; border-radius: 4px; margin: 16px 0; }
  .member { background: #e8f5e9; padding: 12px 16px; border-radius: 4px; }
  .center { text-align: center; margin: 24px 0; }
  .button { display: inline-block; padding: 14px 32px; background: #c0392b; color: #ffffff;
            text-decoration: none; border-radius: 4px; font-weight: bold; }
  .shop-footer { padding: 16px 24px; font-size: 12px; color: #999999; border-top: 1px solid #eeeeee; }
  @media (max-width: 600px) {
    .content { padding: 16px; }
    .cart .thumb img { width: 56px; height: 56px; }
  }
</style>
</head>
<body>
<span style="display:none;font-size:1px;color:#f4f4f4;max-height:0;overflow:hidden;">
{{ event.properties.products | length }}点の商品がカートでお待ちです</span>
<div class="wrapper"><div class="container">
<div class="header"><a href="https://shop.example.com/"><img src="https://cdn.example.com/logo.png"
 alt="Example Shop"></a></div>
<div class="content">
<h1>{{ user.last_name | default('') }} {{ user.first_name | default('お客様') }}様</h1>
<p>カートに商品が残っています。在庫がなくなる前に、ご購入手続きをお済ませください。</p>
<table class="cart" role="presentation">
{% for item in event.properties.products %}
<tr>
<td class="thumb"><a href="{{ item.url }}"><img src="{{ item.image_url }}" alt="{{ item.name }}"></a></td>
<td><div class="name"><a href="{{ item.url }}">{{ item.name }}</a></div>
<div class="variant">{{ item.variant | default('') }}{% if item.quantity > 1 %} × {{ item.quantity }}{% endif %}</div>
</td>
<td class="price">{{ (item.price * item.quantity) | yen }}</td>
</tr>
{% endfor %}
<tr class="total"><td></td><td>小計</td><td class="price">{{ event.properties.total | yen }}</td></tr>
</table>
{% if event.properties.total >= 5000 %}
<div class="notice">このご注文は送料無料でお届けします。</div>
{% else %}
<div class="notice">あと{{ (5000 - event.properties.total) | yen }}のお買い上げで送料無料になります。</div>
{% endif %}
{% if user.plan == 'member' %}
<div class="member">会員様は{{ (event.properties.total * 0.05) | round | int }}ポイントが貯まります。</div>
{% else %}
<div class="member"><a href="https://shop.example.com/signup">会員登録</a>でお買い物のたびにポイントが貯まります。</div>
{% endif %}
<p class="center"><a class="button"
 href="{{ event.properties.cart_url | default('https://shop.example.com/cart') }}">カートを見る</a></p>
{% if event.properties.coupon is defined %}
<p>クーポンコード <strong>{{ event.properties.coupon }}</strong> をご利用いただけます。</p>
{% endif %}
</div>
<div class="shop-footer">Example Shop株式会社 ・ お問い合わせ: support@shop.example.com</div>
</div></div>
</body>
</html>
"""  # noqa: RUF001 (the multiplication sign is how Japanese shops write quantities)

CATALOG = [
    ("Linen Shirt", "Navy / M", 6900),
    ("Linen Shirt", "White / L", 6900),
    ("Chino Pants", "Beige / 30", 8900),
    ("Canvas Tote", "Natural", 3200),
    ("Wool Socks", "Grey / 3 pairs", 1980),
    ("Leather Belt", "Brown / 90 cm", 5400),
    ("Cotton Cardigan", "Olive / M", 9800),
    ("Knit Cap", "Charcoal", 2480),
]
FIRST_NAMES = ["花子", "太郎", "美咲", "健太", "陽菜", "翔", "さくら", "大輔", "結衣", "蓮"]
LAST_NAMES = ["山田", "佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "中村", "小林", "加藤"]


def traits(index: int, email: str, subscription: bool = True) -> dict[str, Any]:
    """Identify traits of the index-th shopper (names, plan and coupon vary from one to the next)."""
    return {
        "email": email,
        "subscription": subscription,
        "first_name": FIRST_NAMES[index % len(FIRST_NAMES)],
        "last_name": LAST_NAMES[(index // len(FIRST_NAMES)) % len(LAST_NAMES)],
        "plan": "member" if index % 3 else "guest",
        "locale": "ja-JP",
        "timezone": "Asia/Tokyo",
        "created_at": "2026-11-02T09:15:00Z",
    }


def checkout_properties(index: int) -> dict[str, Any]:
    """The properties of the index-th shopper's "Checkout Started" (Segment's e-commerce spec):
    one to four products, so the template's loop varies in length like real carts do."""
    chooser = random.Random(index)
    products: list[dict[str, Any]] = []
    for position, (name, variant, price) in enumerate(chooser.sample(CATALOG, chooser.randint(1, 4)), start=1):
        slug = name.lower().replace(" ", "-")
        products.append(
            {
                "product_id": f"p-{slug}",
                "sku": f"{slug}-{position}",
                "name": name,
                "variant": variant,
                "price": price,
                "quantity": chooser.choice([1, 1, 1, 2]),
                "url": f"https://shop.example.com/products/{slug}",
                "image_url": f"https://cdn.example.com/products/{slug}.jpg",
            }
        )
    properties: dict[str, Any] = {
        "checkout_id": f"co-{index:06d}",
        "products": products,
        "total": sum(item["price"] * item["quantity"] for item in products),
        "currency": "JPY",
        "cart_url": "https://shop.example.com/cart",
    }
    if index % 4 == 0:
        properties["coupon"] = "WINTER10"
    return properties


def checkout_event(index: int) -> dict[str, Any]:
    """The entry event as the trigger function hands it to the template (`event`)."""
    moment = datetime(2026, 12, 4, 9, 30, tzinfo=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return {"name": "Checkout Started", "properties": checkout_properties(index), "timestamp": moment}
