from django.urls import path

from elicitation import views

urlpatterns = [
    path("campaigns/<int:campaign_id>/spend.png", views.spend_plot, name="elicitation-spend"),
    path("benchmark.png", views.benchmark_plot, name="elicitation-benchmark"),
]
