from django.urls import path

from annotator.views import dashboard

urlpatterns = [
    path("campaigns/<int:campaign_id>/dashboard/", dashboard.dashboard, name="dashboard"),
    path("campaigns/<int:campaign_id>/dashboard/plots/<slug:name>.png", dashboard.plot, name="dashboard-plot"),
    path("campaigns/<int:campaign_id>/dashboard/heatmap/<int:target_id>.json", dashboard.heatmap_json,
         name="dashboard-heatmap"),
    path("campaigns/<int:campaign_id>/dashboard/heatmap/<int:target_id>/<slug:attribute_key>/<slug:label>.png",
         dashboard.heatmap_png, name="dashboard-heatmap-png"),
]
