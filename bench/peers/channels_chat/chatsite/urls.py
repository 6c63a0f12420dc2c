"""HTTP routes: only a health check."""

from django.http import HttpRequest, HttpResponse
from django.urls import path


def healthz(request: HttpRequest) -> HttpResponse:
    """Answers 200 once Django is up."""
    return HttpResponse("ok")


urlpatterns = [path("healthz", healthz)]
