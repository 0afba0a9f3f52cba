"""Customer-facing URLs: payment links, the hosted checkout page, the customer portal."""

app_name = "checkout"

urlpatterns: list = []
