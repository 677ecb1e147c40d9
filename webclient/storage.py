"""The static files storage: whitenoise's hashed and compressed storage, plus rewriting
the relative ES module imports of the web client's modules to their hashed names.

Django can rewrite `import … from "./x.js"` (ManifestStaticFilesStorage's
`support_js_module_import_aggregation`), but that switch applies to every *.js file,
the admin's and Swagger UI's included; here the same patterns apply only to
webclient/*.js. Without it the hashed app.js would import the unhashed ./api.js, which
production does not keep (WHITENOISE_KEEP_ONLY_HASHED_FILES).
"""

from django.contrib.staticfiles.storage import ManifestStaticFilesStorage
from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    patterns = (
        *CompressedManifestStaticFilesStorage.patterns,
        ("webclient/*.js", ManifestStaticFilesStorage._js_module_import_aggregation_patterns[1]),
    )
