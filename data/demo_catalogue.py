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
    nouns: tuple[str, ...]  # lightest first: an item's weight follows its noun


CATEGORIES: tuple[Category, ...] = (
    Category("grocery", 0.28, (0.2, 6.0), (0.9, 14.0), (0.15, 0.30), 1.8, (
        "Granola Bars", "Macaroni & Cheese", "Salted Butter", "Cheddar Cheese", "Cookies",
        "Tortilla Chips", "Spaghetti", "Sandwich Bread", "Greek Yogurt", "Black Beans",
        "Diced Tomatoes", "Salsa", "Honey", "Ground Coffee", "Breakfast Cereal", "Oatmeal",
        "Peanut Butter", "Chicken Broth", "Olive Oil", "Large Eggs", "Long Grain Rice",
        "Frozen Pizza", "Orange Juice", "Whole Milk", "Cola", "Bottled Water",
    )),
    Category("household", 0.12, (0.5, 18.0), (1.5, 28.0), (0.25, 0.40), 1.2, (
        "Sponges", "AA Batteries", "Light Bulbs", "Zipper Bags", "Air Freshener",
        "Aluminum Foil", "Disinfecting Wipes", "Dish Soap", "All-Purpose Cleaner",
        "Trash Bags", "Paper Towels", "Bath Tissue", "Fabric Softener", "Laundry Detergent",
    )),
    Category("health & beauty", 0.12, (0.1, 2.5), (2.5, 35.0), (0.35, 0.55), 1.0, (
        "Lip Balm", "Razor Cartridges", "Bandages", "Allergy Relief", "Pain Reliever",
        "Deodorant", "Toothpaste", "Cotton Swabs", "Multivitamin", "Sunscreen SPF 50",
        "Hand Lotion", "Conditioner", "Shampoo", "Body Wash", "Mouthwash",
    )),
    Category("electronics", 0.07, (0.2, 30.0), (8.0, 450.0), (0.08, 0.25), 0.3, (
        "Memory Card 128GB", "USB-C Cable", "Streaming Stick", "Wireless Earbuds",
        "HDMI Cable", "Wireless Mouse", "Smart Plug", "Phone Charger", "Power Bank",
        "Tablet Case", "Keyboard", "Bluetooth Speaker", "32in LED TV",
    )),
    Category("toys", 0.08, (0.2, 12.0), (4.0, 70.0), (0.35, 0.50), 0.5, (
        "Card Game", "Action Figure", "Fashion Doll", "Play-Dough Pack", "Plush Bear",
        "Puzzle 1000pc", "Art Kit", "Water Blaster", "Board Game", "Building Blocks Set",
        "RC Car",
    )),
    Category("apparel", 0.12, (0.2, 3.0), (4.0, 55.0), (0.45, 0.65), 0.6, (
        "Baseball Cap", "Crew T-Shirt", "Athletic Socks 6pk", "Flip Flops", "Leggings",
        "Polo Shirt", "Pajama Set", "Denim Jeans", "Rain Jacket", "Hoodie", "Sneakers",
    )),
    Category("home", 0.11, (0.8, 35.0), (5.0, 140.0), (0.35, 0.55), 0.45, (
        "Candle", "Picture Frame", "Shower Curtain", "Bath Towel", "Throw Pillow",
        "Food Storage Set", "Nonstick Skillet", "Queen Sheet Set", "Storage Bin",
        "Table Lamp", "Coffee Maker", "Dinnerware Set", "Vacuum Cleaner",
    )),
    Category("sporting goods", 0.10, (0.3, 40.0), (4.0, 180.0), (0.28, 0.45), 0.4, (
        "Resistance Bands", "Golf Balls 12pk", "Water Bottle", "Soccer Ball", "Basketball",
        "Bike Helmet", "Fishing Rod", "Yoga Mat", "Folding Chair", "Camping Tent", "Cooler",
        "Dumbbell Pair",
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
    n_nouns = np.array([len(c.nouns) for c in CATEGORIES])[cat_idx]
    noun_idx = rng.integers(0, n_nouns)
    u = rng.random((n_nouns.size, 3))
    # Weight sits in the noun's slice of the category range (a TV outweighs a cable); price
    # leans on weight, so heavier items of a category tend to cost more.
    u[:, 0] = (noun_idx + u[:, 0]) / n_nouns
    u[:, 1] = 0.5 * u[:, 0] + 0.5 * u[:, 1]

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
    names = []
    for i in range(n_skus):
        noun = CATEGORIES[cat_idx[i]].nouns[noun_idx[i]]
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
