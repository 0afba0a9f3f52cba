"""Sections linked from the sidebar that part 2 of the dashboard builds."""

from django.shortcuts import render

from dashboard.access import dashboard_view

SECTIONS = {
    "team": ("Team", "Members, roles and invitations."),
}


@dashboard_view
def coming_soon(request, section: str, **object_ids):
    """A section still to come; ``object_ids`` (an order's page) are ignored until it does."""
    title, description = SECTIONS[section]
    context = {"section": section, "title": title, "description": description}
    return render(request, "dashboard/coming_soon.html", context)
