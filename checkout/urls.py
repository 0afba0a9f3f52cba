"""Customer-facing URLs: payment links, the hosted checkout page, the customer portal."""

from django.urls import path

from checkout import views

app_name = "checkout"

urlpatterns = [
    path("pay/<str:link_id>", views.open_payment_link, name="payment_link"),
    path("checkout/<str:session_id>", views.checkout_page, name="session"),
    path("checkout/<str:session_id>/details", views.save_details, name="details"),
    path("checkout/<str:session_id>/pay", views.pay, name="pay"),
    path("checkout/<str:session_id>/thank-you", views.thank_you, name="thank_you"),
    path("portal/<str:token>", views.portal, name="portal"),
]
