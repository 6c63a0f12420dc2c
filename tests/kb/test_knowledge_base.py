"""/api/v1/kb (知识库, §4.3.3, §4.5.6–§4.5.7): admins keep questions with keywords and
answers; agents search them while chatting, and only ever see enabled ones."""

from __future__ import annotations

from typing import Any

from tests.conftest import Persona, World

CATEGORIES = "/api/v1/kb/categories"
ARTICLES = "/api/v1/kb/articles"
SEARCH = "/api/v1/kb/search"


async def add_article(
    who: Persona, question: str, answer: str = "请联系客服", **fields: Any
) -> dict[str, Any]:
    r = await who.post(ARTICLES, json={"question": question, "answer": answer, **fields})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def search(who: Persona, q: str, **params: Any) -> list[str]:
    r = await who.get(SEARCH, params={"q": q, **params})
    assert r.status_code == 200, r.text
    return [a["question"] for a in r.json()["items"]]


async def test_admin_keeps_articles_with_keywords(world: World) -> None:
    ada = world.admin_ada
    returns = (await ada.post(CATEGORIES, json={"name": "退换货"})).json()["id"]
    article = await add_article(
        ada,
        "可以退货吗？",
        "支持七天无理由退货，请在订单页申请。",
        category_id=returns,
        keywords=[" 退货 ", "退款", "七天无理由", "退货", "Return"],
    )
    assert article["keywords"] == ["退货", "退款", "七天无理由", "return"]
    assert article["enabled"] is True and article["category_id"] == returns
    assert (await world.agent_alice.get(f"{ARTICLES}/{article['id']}")).json() == article

    r = await ada.patch(
        f"{ARTICLES}/{article['id']}", json={"keywords": ["退货", "换货"], "category_id": None}
    )
    assert r.status_code == 200
    changed = r.json()
    assert changed["keywords"] == ["退货", "换货"] and changed["category_id"] is None
    assert changed["question"] == "可以退货吗？" and changed["updated_at"] > article["updated_at"]
    r = await ada.patch(f"{ARTICLES}/{article['id']}", json={"answer": "支持七天无理由退货。"})
    assert r.json()["answer"] == "支持七天无理由退货。" and r.json()["keywords"] == ["退货", "换货"]

    assert (await ada.delete(f"{ARTICLES}/{article['id']}")).status_code == 204
    assert (await ada.get(f"{ARTICLES}/{article['id']}")).status_code == 404
    assert (await ada.delete(f"{ARTICLES}/{article['id']}")).status_code == 404
    assert (await ada.get(ARTICLES)).json() == {"items": [], "total": 0}


async def test_questions_and_category_names_are_unique_within_a_merchant(world: World) -> None:
    ada = world.admin_ada
    await add_article(ada, "多久发货？")
    other = await add_article(ada, "用什么快递？")
    r = await ada.post(ARTICLES, json={"question": "多久发货？", "answer": "x"})
    assert r.status_code == 409
    assert r.json()["error"] == {"code": "question_taken", "message": "已有相同问题的知识"}
    r = await ada.patch(
        f"{ARTICLES}/{other['id']}", json={"question": "多久发货？"}, headers={"Accept-Language": "en"}
    )
    assert r.status_code == 409 and r.json()["error"]["message"] == "An article with this question exists"
    assert (await ada.get(f"{ARTICLES}/{other['id']}")).json() == other
    await add_article(world.mallory, "多久发货？")

    assert (await ada.post(CATEGORIES, json={"name": "物流"})).status_code == 201
    r = await ada.post(CATEGORIES, json={"name": "物流"})
    assert r.status_code == 409 and r.json()["error"]["message"] == "知识库分类名称已存在"
    assert (await ada.get(ARTICLES)).json()["total"] == 2


async def test_only_admins_change_the_knowledge_base(world: World) -> None:
    ada, alice = world.admin_ada, world.agent_alice
    article = await add_article(ada, "多久发货？")
    category = (await ada.post(CATEGORIES, json={"name": "物流"})).json()["id"]
    for r in (
        await alice.post(ARTICLES, json={"question": "x", "answer": "y"}),
        await alice.patch(f"{ARTICLES}/{article['id']}", json={"enabled": False}),
        await alice.delete(f"{ARTICLES}/{article['id']}"),
        await alice.post(CATEGORIES, json={"name": "x"}),
        await alice.delete(f"{CATEGORIES}/{category}"),
    ):
        assert r.status_code == 403 and r.json()["error"]["code"] == "permission_denied"
    assert (await alice.get(ARTICLES)).json()["items"] == [article]
    assert [c["name"] for c in (await alice.get(CATEGORIES)).json()["items"]] == ["物流"]


async def test_search_ranks_question_and_keyword_hits_above_answer_hits(world: World) -> None:
    ada, alice = world.admin_ada, world.agent_alice
    await add_article(ada, "发票怎么开？", "下单时选择开发票，退货运费不含在发票内。")
    await add_article(ada, "七天无理由怎么申请？", "在订单页申请售后。", keywords=["退货"])
    await add_article(ada, "退货运费谁出？", "质量问题由我们承担运费。", keywords=["运费"])
    await add_article(ada, "优惠券怎么用？", "结算时自动抵扣。", keywords=["优惠券", "满减"])

    # The question beats a keyword, a keyword beats the answer.
    assert await search(alice, "退货") == ["退货运费谁出？", "七天无理由怎么申请？", "发票怎么开？"]
    # Words add up: both in the question (and one a keyword) come first; both words in the
    # answer (1 + 1) tie with one keyword (2), and the older comes first.
    assert await search(alice, "运费 退货") == ["退货运费谁出？", "发票怎么开？", "七天无理由怎么申请？"]
    assert await search(alice, "满减") == ["优惠券怎么用？"]
    assert await search(alice, "MAN减") == []
    assert await search(alice, "尺码") == []
    r = await alice.get(SEARCH, params={"q": "退货", "limit": 1, "offset": 1})
    assert [a["question"] for a in r.json()["items"]] == ["七天无理由怎么申请？"] and r.json()["total"] == 3


async def test_a_visitors_whole_message_finds_the_keywords_in_it(world: World) -> None:
    """The workspace's auto mode searches with each incoming message as it is."""
    ada, alice = world.admin_ada, world.agent_alice
    await add_article(ada, "可以退货吗？", "支持七天无理由退货。", keywords=["退货", "退款"])
    await add_article(ada, "多久发货？", "48小时内发货。", keywords=["发货", "什么时候发"])
    await add_article(ada, "优惠券怎么用？", "结算时自动抵扣。", keywords=["优惠券"])
    assert await search(alice, "你好，我昨天买的鞋子不合适，想退款可以吗？") == ["可以退货吗？"]
    assert await search(alice, "请问什么时候发货呀") == ["多久发货？"]
    assert await search(alice, "在吗") == []


async def test_agents_never_see_disabled_articles(world: World) -> None:
    ada, alice = world.admin_ada, world.agent_alice
    kept = await add_article(ada, "可以退货吗？", keywords=["退货"])
    hidden = await add_article(ada, "退货地址是什么？", keywords=["退货"], enabled=False)
    assert hidden["enabled"] is False

    assert await search(alice, "退货") == ["可以退货吗？"]
    assert await search(ada, "退货") == ["可以退货吗？"]  # search offers what agents may send
    assert (await alice.get(f"{ARTICLES}/{hidden['id']}")).status_code == 404
    assert [a["id"] for a in (await alice.get(ARTICLES)).json()["items"]] == [kept["id"]]
    assert (await alice.get(ARTICLES, params={"enabled": "false"})).json() == {"items": [], "total": 0}
    # Admins see both, newest first, and can filter.
    assert [a["id"] for a in (await ada.get(ARTICLES)).json()["items"]] == [hidden["id"], kept["id"]]
    assert [a["id"] for a in (await ada.get(ARTICLES, params={"enabled": "false"})).json()["items"]] == [
        hidden["id"]
    ]

    assert (await ada.patch(f"{ARTICLES}/{hidden['id']}", json={"enabled": True})).json()["enabled"] is True
    assert await search(alice, "退货") == ["可以退货吗？", "退货地址是什么？"]
    assert (await ada.patch(f"{ARTICLES}/{kept['id']}", json={"enabled": False})).status_code == 200
    assert await search(alice, "退货") == ["退货地址是什么？"]


async def test_the_admin_list_filters_by_words_and_category(world: World) -> None:
    ada = world.admin_ada
    shipping = (await ada.post(CATEGORIES, json={"name": "物流"})).json()["id"]
    await add_article(ada, "多久发货？", "48小时内发货。", category_id=shipping)
    await add_article(ada, "用什么快递？", "默认中通，可备注顺丰（需补运费）。", category_id=shipping)
    await add_article(ada, "可以退货吗？", "可以。", keywords=["运费险"])

    def questions(body: dict[str, Any]) -> list[str]:
        return [a["question"] for a in body["items"]]

    assert questions((await ada.get(ARTICLES, params={"category_id": shipping})).json()) == [
        "用什么快递？",
        "多久发货？",
    ]
    assert questions((await ada.get(ARTICLES, params={"q": "运费"})).json()) == [
        "可以退货吗？",
        "用什么快递？",
    ]
    assert questions((await ada.get(ARTICLES, params={"q": "运费", "category_id": shipping})).json()) == [
        "用什么快递？"
    ]
    # "%" and "_" are letters, not wildcards.
    assert (await ada.get(ARTICLES, params={"q": "%"})).json()["total"] == 0
    assert await search(ada, "_") == []


async def test_removing_a_category_keeps_its_articles(world: World) -> None:
    ada = world.admin_ada
    shipping = (await ada.post(CATEGORIES, json={"name": "物流"})).json()["id"]
    article = await add_article(ada, "多久发货？", category_id=shipping)
    assert (await ada.delete(f"{CATEGORIES}/{shipping}")).status_code == 204
    assert (await ada.get(f"{ARTICLES}/{article['id']}")).json()["category_id"] is None


async def test_another_merchant_finds_nothing_of_ours(world: World) -> None:
    ada, mallory = world.admin_ada, world.mallory
    article = await add_article(ada, "可以退货吗？", "支持七天无理由退货", keywords=["退货"])
    assert await search(mallory, "退货") == []
    assert await search(mallory, "我想退货") == []
    assert (await mallory.get(ARTICLES, params={"q": "退货"})).json() == {"items": [], "total": 0}
    assert (await mallory.get(f"{ARTICLES}/{article['id']}")).status_code == 404
    assert (await mallory.patch(f"{ARTICLES}/{article['id']}", json={"answer": "不行"})).status_code == 404
    assert (await ada.get(f"{ARTICLES}/{article['id']}")).json() == article


async def test_bad_articles_and_searches_are_refused_and_change_nothing(world: World) -> None:
    ada = world.admin_ada
    theirs = (await world.mallory.post(CATEGORIES, json={"name": "物流"})).json()["id"]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"question": "", "answer": "x"}, "invalid_input"),
        ({"question": "x" * 201, "answer": "x"}, "invalid_input"),
        ({"question": "x", "answer": " "}, "invalid_input"),
        ({"question": "x", "answer": "y" * 5001}, "invalid_input"),
        ({"question": "x", "answer": "y", "keywords": ["退货,退款"]}, "invalid_input"),
        ({"question": "x", "answer": "y", "keywords": ["退货，退款"]}, "invalid_input"),
        ({"question": "x", "answer": "y", "keywords": [""]}, "invalid_input"),
        ({"question": "x", "answer": "y", "keywords": ["长" * 33]}, "invalid_input"),
        ({"question": "x", "answer": "y", "keywords": [f"k{i}" for i in range(21)]}, "invalid_input"),
        ({"question": "x", "answer": "y", "keywords": "退货"}, "invalid_input"),
        ({"question": "x", "answer": "y", "category_id": theirs}, "unknown_category"),
    ]
    for body, code in cases:
        r = await ada.post(ARTICLES, json=body)
        assert r.status_code == 422 and r.json()["error"]["code"] == code, (body, r.text)
    r = await ada.post(ARTICLES, json={"question": "x", "answer": ""}, headers={"Accept-Language": "en"})
    assert r.json()["error"]["message"].startswith("Invalid field answer")
    for params in ({}, {"q": ""}, {"q": "x" * 201}, {"q": "退货", "limit": 51}):
        r = await ada.get(SEARCH, params=params)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_input", params
    assert (await ada.get(ARTICLES)).json() == {"items": [], "total": 0}
