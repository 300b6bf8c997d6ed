"""/open-data: the published releases (newest first) and what each file holds, Japanese first."""
from flask import render_template
from flask_babel import get_locale

from registry.opendata import service as open_data
from registry.opendata.tables import LICENSE_URL, TABLES
from registry.pages.common import page_blueprint, public_page

blp = page_blueprint("open_data_pages", __name__)


@blp.get("/open-data")
@public_page
def releases():
    english = str(get_locale() or "ja") == "en"
    tables = [{"name": name, "columns": columns, "holds": en if english else ja}
              for name, (columns, ja, en) in TABLES.items()]
    return render_template("pages/open_data.html", releases=open_data.releases().items, tables=tables,
                           license_url=LICENSE_URL)
