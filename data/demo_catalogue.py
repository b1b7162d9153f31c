"""The demo SKU catalogue: categories, names, weights, prices, margins and Zipf popularity."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

# Units per day of the most popular SKU in a store of demand scale 1, and the Zipf exponent
# of popularity by rank. With these a 100-SKU store sells ~200 units a day and a median
# SKU ~0.3 a day: intermittent, like most M5 series.
TOP_DAILY_UNITS = 8.0
ZIPF_EXPONENT = 0.85


@dataclass(frozen=True)
class Category:
    """A merchandise category and the ranges its items are drawn from."""

    name: str
    share: float  # of the catalogue
    weight_lb: tuple[float, float]  # log-uniform
    price: tuple[float, float]  # log-uniform, dollars
    margin: tuple[float, float]  # gross margin (price - cost) / price, uniform
    demand: float  # relative units per day: groceries turn over, electronics do not
    nouns: tuple[str, ...]


CATEGORIES: tuple[Category, ...] = (
    Category("grocery", 0.28, (0.2, 6.0), (0.9, 14.0), (0.15, 0.30), 1.8, (
        "Whole Milk", "Breakfast Cereal", "Ground Coffee", "Spaghetti", "Peanut Butter",
        "Long Grain Rice", "Olive Oil", "Tortilla Chips", "Orange Juice", "Diced Tomatoes",
        "Black Beans", "Sandwich Bread", "Cheddar Cheese", "Greek Yogurt", "Granola Bars",
        "Salsa", "Chicken Broth", "Frozen Pizza", "Bottled Water", "Cola", "Cookies",
        "Honey", "Oatmeal", "Macaroni & Cheese", "Salted Butter", "Large Eggs",
    )),
    Category("household", 0.12, (0.5, 18.0), (1.5, 28.0), (0.25, 0.40), 1.2, (
        "Paper Towels", "Bath Tissue", "Laundry Detergent", "Dish Soap", "Trash Bags",
        "All-Purpose Cleaner", "Disinfecting Wipes", "Aluminum Foil", "Zipper Bags",
        "Light Bulbs", "AA Batteries", "Sponges", "Fabric Softener", "Air Freshener",
    )),
    Category("health & beauty", 0.12, (0.1, 2.5), (2.5, 35.0), (0.35, 0.55), 1.0, (
        "Shampoo", "Conditioner", "Toothpaste", "Body Wash", "Deodorant", "Pain Reliever",
        "Multivitamin", "Sunscreen SPF 50", "Hand Lotion", "Razor Cartridges", "Lip Balm",
        "Cotton Swabs", "Allergy Relief", "Mouthwash", "Bandages",
    )),
    Category("electronics", 0.07, (0.2, 30.0), (8.0, 450.0), (0.08, 0.25), 0.3, (
        "USB-C Cable", "Wireless Earbuds", "Phone Charger", "Bluetooth Speaker",
        "HDMI Cable", "Smart Plug", "32in LED TV", "Tablet Case", "Power Bank",
        "Wireless Mouse", "Keyboard", "Streaming Stick", "Memory Card 128GB",
    )),
    Category("toys", 0.08, (0.2, 12.0), (4.0, 70.0), (0.35, 0.50), 0.5, (
        "Building Blocks Set", "Action Figure", "Fashion Doll", "Board Game", "Puzzle 1000pc",
        "RC Car", "Plush Bear", "Art Kit", "Card Game", "Water Blaster", "Play-Dough Pack",
    )),
    Category("apparel", 0.12, (0.2, 3.0), (4.0, 55.0), (0.45, 0.65), 0.6, (
        "Crew T-Shirt", "Denim Jeans", "Athletic Socks 6pk", "Hoodie", "Leggings",
        "Polo Shirt", "Rain Jacket", "Sneakers", "Baseball Cap", "Pajama Set", "Flip Flops",
    )),
    Category("home", 0.11, (0.8, 35.0), (5.0, 140.0), (0.35, 0.55), 0.45, (
        "Bath Towel", "Queen Sheet Set", "Throw Pillow", "Storage Bin", "Nonstick Skillet",
        "Dinnerware Set", "Coffee Maker", "Table Lamp", "Shower Curtain", "Picture Frame",
        "Vacuum Cleaner", "Food Storage Set", "Candle",
    )),
    Category("sporting goods", 0.10, (0.3, 40.0), (4.0, 180.0), (0.28, 0.45), 0.4, (
        "Yoga Mat", "Dumbbell Pair", "Basketball", "Fishing Rod", "Camping Tent",
        "Water Bottle", "Bike Helmet", "Folding Chair", "Soccer Ball", "Resistance Bands",
        "Cooler", "Golf Balls 12pk",
    )),
)

BRANDS = (
    "Brightfield", "Northwind", "Lone Star", "Everyday", "Harbor & Pine", "Summit",
    "Meadowlark", "Prairie Gold", "Bluebonnet", "Cedar Lane", "Parkside", "Clearwater",
    "Redwood", "Sunridge", "True North", "Oak & Ember",
)
VARIANTS = ("", "Value Pack", "Family Size", "Original", "Classic", "Premium", "Lite", "XL")


def build_catalogue(n_skus: int, rng: np.random.Generator) -> pd.DataFrame:
    """A catalogue of n_skus items: id, code, name, category, weight_lb, prices, daily_rate."""
    shares = np.array([c.share for c in CATEGORIES])
    cat_idx = rng.choice(len(CATEGORIES), size=n_skus, p=shares / shares.sum())
    u = rng.random((n_skus, 3))

    def pick(attr: str, col: int, log: bool) -> np.ndarray:
        lo = np.array([getattr(c, attr)[0] for c in CATEGORIES])[cat_idx]
        hi = np.array([getattr(c, attr)[1] for c in CATEGORIES])[cat_idx]
        if log:
            return np.exp(np.log(lo) + u[:, col] * (np.log(hi) - np.log(lo)))
        return lo + u[:, col] * (hi - lo)

    weight = np.round(pick("weight_lb", 0, log=True), 2)
    # Prices end in .x8/.x7 like shelf prices; costs follow from the category margin.
    price = np.floor(pick("price", 1, log=True)) + rng.choice([0.47, 0.78, 0.88, 0.97], n_skus)
    margin = pick("margin", 2, log=False)
    cost = np.round(price * (1.0 - margin), 2)

    # Zipf popularity over a random ranking, tilted by how fast the category turns.
    rank = rng.permutation(n_skus) + 1
    demand = np.array([c.demand for c in CATEGORIES])[cat_idx]
    rate = TOP_DAILY_UNITS * rank.astype(float) ** -ZIPF_EXPONENT * demand / 1.8

    brand = rng.integers(len(BRANDS), size=n_skus)
    variant = rng.integers(len(VARIANTS), size=n_skus)
    noun_pick = rng.random(n_skus)
    names = []
    for i in range(n_skus):
        cat = CATEGORIES[cat_idx[i]]
        noun = cat.nouns[int(noun_pick[i] * len(cat.nouns))]
        names.append(" ".join(p for p in (BRANDS[brand[i]], noun, VARIANTS[variant[i]]) if p))
    ids = np.arange(1, n_skus + 1)
    return pd.DataFrame({
        "id": ids,
        "code": [f"SKU-{i:06d}" for i in ids],
        "name": names,
        "category": [CATEGORIES[i].name for i in cat_idx],
        "weight_lb": np.maximum(weight, 0.05),
        "unit_price": np.round(price, 2),
        "unit_cost": cost,
        "popularity_rank": rank,
        "daily_rate": rate,
    })
