import pytest

from promptlib.knowledge.services import document_upload, knowledge_base_create

POLICIES = b"""# Refunds

You can return any unopened bag of coffee within 30 days for a full refund.
Opened bags are refunded as store credit.

# Shipping

Orders over 40 EUR ship free within Germany. Other orders pay 4.90 EUR shipping.
Parcels leave our roastery in Leipzig every weekday.
"""

CATALOGUE = b"""name,price,notes
Morning Blend,12.50 EUR,"Chocolate, hazelnut; medium roast"
Ethiopia Yirgacheffe,16.00 EUR,"Jasmine, lemon; light roast"
Decaf Colombia,13.00 EUR,"Caramel, red apple; swiss water process"
"""


@pytest.fixture
def shop_kb(acme):
    kb = knowledge_base_create(project=acme, name="coffee-shop", chunk_size=400, chunk_overlap=40)
    document_upload(knowledge_base=kb, source="policies.md", data=POLICIES, tags=["policy"])
    document_upload(knowledge_base=kb, source="catalogue.csv", data=CATALOGUE, tags=["catalogue"])
    return kb
