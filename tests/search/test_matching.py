"""Matching as API.md "Search" says, table-driven: documents from real chat, stored
through the send path, and what a person would type to find (or not find) them."""

import pytest

from messaging import services
from tests.search.conftest import contents

DOCS = {
    "deployment": "Deployment of the billing-service finished at 14:02, rolling back if errors spike",
    "friday": "We should deploy on Friday? No way 🙅",
    "sdk": "Bumped the SDK to v1.2.3, see CHANGELOG.md",
    "rename": "rename get_user_by_id to fetch_user in utils.py",
    "docs": "Docs are at https://docs.example.com/guides/setup?lang=en#install",
    "cafe": "Café meeting moved to 3pm, Zoë will bring the résumé drafts",
    "closed": "CAFE is closed today",
    "zh": "明天我们部署新版本",
    "ja": "本番環境へのデプロイは金曜日です",
    "rocket": "🚀 shipped! great work team 🎉",
    "git": "run `git rebase -i HEAD~3` before pushing",
    "fox": "the quick brown fox jumps over the lazy dog",
    "fox2": "brown quick fox",
    "postgres": "Postgres vs PostgreSQL naming, again",
    "foobar": "ping alice about the foo-bar migration",
    "unicode": "Ünïcödé sänïtïzätïön bug in the parser",
    "email": "email me at ops@example.org",
    "release": "release notes for 2024.05 are ready",
    "k8s": "k8s pod crashloop on node-7",
    "deploying": "I'm deploying now, don't merge",
    "redeploy": "redeploy finished",
    "percent": "CPU at 100% on db_1, load 12.5",
    "ko": "배포가 완료되었습니다",
}

# (query, documents it must find, documents it must not find)
CASES = [
    ("deploy", {"deployment", "friday", "deploying"}, {"redeploy", "zh"}),
    ("DEPLOY", {"deployment", "friday", "deploying"}, {"redeploy"}),
    ("Deploy", {"deployment"}, set()),
    ("billing-service", {"deployment"}, set()),
    ("billing", {"deployment"}, set()),
    ("service", {"deployment"}, set()),
    ("v1.2.3", {"sdk"}, set()),
    ("1.2.3", {"sdk"}, set()),
    ("CHANGELOG.md", {"sdk"}, set()),
    ("changelog", {"sdk"}, set()),
    ("get_user_by_id", {"rename"}, set()),
    ("user", {"rename"}, set()),
    ("fetch_user", {"rename"}, set()),
    ("utils.py", {"rename"}, set()),
    ("https://docs.example.com/guides/setup?lang=en#install", {"docs"}, set()),
    ("docs.example.com", {"docs"}, set()),
    ("guides", {"docs"}, set()),
    ("setup", {"docs"}, set()),
    ("cafe", {"cafe", "closed"}, set()),
    ("café", {"cafe", "closed"}, set()),
    ("zoe", {"cafe"}, set()),
    ("resume", {"cafe"}, set()),
    ("部署", {"zh"}, {"ja"}),
    ("新版本", {"zh"}, set()),
    ("デプロイ", {"ja"}, {"zh"}),
    ("金曜日", {"ja"}, set()),
    ("배포", {"ko"}, set()),
    ("🚀", {"rocket"}, {"friday"}),
    ("🙅", {"friday"}, {"rocket"}),
    ("git rebase", {"git"}, set()),
    ('"git rebase -i"', {"git"}, set()),
    ("HEAD~3", {"git"}, set()),
    ('"quick brown fox"', {"fox"}, {"fox2"}),
    ("quick fox", {"fox", "fox2"}, set()),
    ("fox -lazy", {"fox2"}, {"fox"}),
    ('fox -"lazy dog"', {"fox2"}, {"fox"}),
    ("postgres", {"postgres"}, set()),
    ("foo-bar", {"foobar"}, set()),
    ("foo", {"foobar"}, set()),
    ("sanitization", {"unicode"}, set()),
    ("ÜNICODE", {"unicode"}, set()),
    ("ops@example.org", {"email"}, set()),
    ("example.org", {"email"}, set()),
    ("2024.05", {"release"}, set()),
    ("k8s", {"k8s"}, set()),
    ("node-7", {"k8s"}, set()),
    ("crash", {"k8s"}, set()),
    ("deploy -friday", {"deployment", "deploying"}, {"friday"}),
    ("redeploy", {"redeploy"}, {"deployment"}),
    ("loy", set(), {"deployment", "redeploy"}),
    ("100%", {"percent"}, set()),
    ("db_1", {"percent"}, set()),
    ("db_", {"percent"}, {"rename"}),
    ("weekly", set(), set(DOCS)),
]


@pytest.fixture
def stored(alice, bob, channel):
    for content in DOCS.values():
        services.message_send(sender=alice, channel_id=channel.pk, content=content)
    return channel


def test_table_has_at_least_40_pairs():
    assert len(CASES) >= 40


def test_every_query_finds_what_a_person_would_expect(stored, bob, search):
    by_content = {content: key for key, content in DOCS.items()}
    wrong = []
    for query, must, must_not in CASES:
        found = {by_content[c] for c in contents(search(bob, query, limit=100))}
        if not must <= found or found & must_not:
            wrong.append((query, sorted(must - found), sorted(found & must_not)))
    assert wrong == []
