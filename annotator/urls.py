from django.urls import include, path

urlpatterns = [
    path("", include("annotator.views.urls_annotate")),
    path("", include("annotator.views.urls_dashboard")),
    path("", include("annotator.views.urls_quality")),
]
