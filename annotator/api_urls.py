from django.urls import include, path

urlpatterns = [
    path("", include("annotator.api.urls_tasks")),
    path("", include("annotator.api.urls_exports")),
    path("", include("annotator.api.urls_quality")),
]
